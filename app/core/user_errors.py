"""What a raw error means to the user: one sentence they understand, and the detail
(the raw text) kept for a disclosure, the log and bug reports.

Errors reach the window as strings (a job's stored `last_error`, a worker event, a
download bridge's message), so the mapping matches on their wording; anything not
recognised still gets a plain sentence with the raw text as its detail. Qt-free so
the activity panel, the status bar and the details panel say the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UserError:
    sentence: str  # what happened, in the user's words
    detail: str  # the raw error, for "Details"

    @property
    def has_detail(self) -> bool:
        return bool(self.detail) and self.detail != self.sentence


# (pattern on the raw text, the sentence); the first match wins.
_CAPTION_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), sentence)
    for pattern, sentence in (
        (
            r"do not fit the model's context|exceeds n_ctx|llama_decode returned",
            "The model ran out of room for this {kind}. Retry it, or choose a smaller "
            "image size or a model with a larger context in Settings.",
        ),
        (
            r"out of memory|failed to allocate|cudaMalloc",
            "The model ran out of memory on this {kind}. Close other programs and retry.",
        ),
        (r"llama\.cpp failed", "The model stopped while captioning this {kind}. Retry it."),
        (
            r"did not answer with a JSON|empty caption|cut off before|answer was not valid",
            "The model's answer could not be used. Retry it; the next answer is often fine.",
        ),
        (
            r"crash|safe mode",
            "This {kind} made the caption engine stop, even in safe mode.",
        ),
        (r"adapter .* could not be used", "Your fine-tuned adapter could not be used here."),
        (r"no longer in the library", "This {kind} was removed from the library."),
        (
            r"not installed|no captioning model|not found: .*gguf|mmproj",
            "The model chosen for this {kind} is not installed.",
        ),
        (
            r"too large",
            "This {kind} is too large to caption.",
        ),
        (
            r"not an image|cannot be read|could not be read|can't read|corrupt",
            "Captionist cannot read this {kind}'s file.",
        ),
    )
)


def caption_error(raw: str | None, kind: str = "photo") -> UserError:
    """Why an item has no caption, for a failed caption job."""
    text = (raw or "").strip()
    for pattern, sentence in _CAPTION_ERRORS:
        if pattern.search(text):
            return UserError(sentence.format(kind=kind), text)
    return UserError(f"This {kind} could not be captioned.", text)


def download_error(model_name: str, raw: str) -> UserError:
    """A model download that failed; `model_name` is the catalog's display name."""
    text = raw.strip()
    if "is downloading" in text or "already being downloaded" in text:
        return UserError(f"{model_name} can't start: another download is running.", text)
    if re.search(r"network|unreachable|resolve|timed out|connection|offline", text, re.I):
        return UserError(f"{model_name} could not be downloaded: no connection.", text)
    if re.search(r"no space|disk full|not enough space", text, re.I):
        return UserError(f"{model_name} could not be downloaded: the disk is full.", text)
    return UserError(f"{model_name} could not be downloaded.", text)


def waiting_error(raw: str, reason: str | None) -> UserError:
    """Why captioning waits (a `Fatal` worker event)."""
    text = raw.strip()
    if reason == "no_model":
        return UserError("No captioning model yet", text)
    if reason == "model_broken":
        return UserError("The captioning model could not be loaded", text)
    if reason == "storage":
        return UserError("Captioning waits: the library cannot be written", text)
    if reason == "damaged":
        return UserError("Captioning stopped: the library file is damaged", text)
    if "already running" in text:
        return UserError("Captioning runs in another Captionist window", text)
    return UserError("Captioning waits", text)
