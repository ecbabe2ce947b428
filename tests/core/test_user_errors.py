"""Raw errors become one sentence a user understands; the raw text stays as the detail."""

from __future__ import annotations

import pytest

from app.core.user_errors import caption_error, download_error, waiting_error


@pytest.mark.parametrize(
    ("raw", "starts"),
    [
        (
            "llama.cpp failed while captioning (llama_decode returned 1)",
            "The model ran out of room",
        ),
        (
            "the images do not fit the model's context (900 tokens, 512 available)",
            "The model ran out of room",
        ),
        ("llama.cpp failed (bad state)", "The model stopped while captioning"),
        ("the model ran out of memory", "The model ran out of memory"),
        ("the model did not answer with a JSON object", "The model's answer could not be used"),
        ("the item is no longer in the library", "This photo was removed"),
        ("not an image Captionist can read (wrong extension or corrupt)", "Captionist cannot read"),
        ("something nobody expected", "This photo could not be captioned."),
    ],
)
def test_caption_errors_are_sentences_with_the_raw_detail(raw: str, starts: str) -> None:
    explained = caption_error(raw, "photo")
    assert explained.sentence.startswith(starts)
    assert explained.detail == raw and explained.has_detail
    assert "llama" not in explained.sentence


def test_a_video_is_called_a_video() -> None:
    assert "this video" in caption_error("the model ran out of memory", "video").sentence


def test_download_errors_name_the_model_by_its_display_name() -> None:
    offline = download_error(
        "SmolVLM2 500M Video", "Cannot reach huggingface.co: network is unreachable"
    )
    assert offline.sentence == "SmolVLM2 500M Video could not be downloaded: no connection."
    other = download_error("SmolVLM2 500M Video", "The server sent more bytes than expected.")
    assert other.sentence == "SmolVLM2 500M Video could not be downloaded."
    assert other.detail == "The server sent more bytes than expected."


def test_why_captioning_waits() -> None:
    raw = "no captioning model is installed yet: download one (Models, or `captionist ...`)"
    assert waiting_error(raw, "no_model").sentence == "No captioning model yet"
    assert waiting_error(raw, "no_model").detail == raw
    assert waiting_error("bad magic", "model_broken").sentence == (
        "The captioning model could not be loaded"
    )
