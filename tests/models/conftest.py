"""The tiny random-weight VLM fixtures (see tests/fixtures/models/README.md)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.media_factory import real_photo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "models"
ARCHITECTURES = ("smolvlm", "qwen2_5_vl")


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
