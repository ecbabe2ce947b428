"""The tiny random-weight VLM fixtures (see tests/fixtures/models/README.md)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.media_factory import real_photo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "models"
# The two families most engine tests run on (kept at two: those tests are the slow part of
# the suite); tests/models/test_engine_families.py covers the others.
ARCHITECTURES = ("smolvlm", "qwen2_5_vl")
# Every fixture: one per catalog family, plus tokenizer variants (same architecture, another
# SentencePiece model and weights).  The fuzz runs over all of them.
CATALOG_FAMILY_FIXTURES = {
    "smolvlm2": "smolvlm",
    "qwen2.5-vl": "qwen2_5_vl",
    "gemma3": "gemma3",
    "internvl3": "internvl3",
}
TOKENIZER_VARIANTS = ("smolvlm_tok2",)
FUZZ_ARCHITECTURES = (*CATALOG_FAMILY_FIXTURES.values(), *TOKENIZER_VARIANTS)


def fixture_pair(name: str) -> tuple[Path, Path]:
    return FIXTURES / name / "model.gguf", FIXTURES / name / "mmproj.gguf"


def jpeg_of(photo: str = "astronaut", side: int = 128) -> bytes:
    image = Image.fromarray(real_photo(photo))
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(params=ARCHITECTURES)
def architecture(request: pytest.FixtureRequest) -> str:
    return request.param
