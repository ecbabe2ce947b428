"""What search by meaning is doing, in one sentence for Settings (read on a background pool).

From the library (which model's vectors answer searches, which one is still reading the
captions, how many rows wait) and the setting `embedding_model` with the models installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.core.semantic.model_choice import OFF, EmbeddingModelMissing, choose_embedding_model
from app.core.storage import embedding_rows as rows
from app.core.storage.db import Database
from app.core.text import counted

Tone = Literal["ok", "info", "warn", "error"]
NO_MODEL = (
    "No embedding model yet: keyword search only. "
    "Download one to find photos by meaning, in any language."
)
OFF_TEXT = "Off: keyword search only."


@dataclass(frozen=True)
class MeaningStatus:
    text: str
    tone: Tone
    filling: bool  # a model is still reading captions: worth reading again soon


def meaning_status(db: Database, setting: str, models_dir: Path) -> MeaningStatus:
    if setting.strip() == OFF:
        return MeaningStatus(OFF_TEXT, "info", False)
    with db.read() as conn:
        models = rows.all_models(conn)
        ready = rows.ready_model(conn)
        pending = rows.pending_count(conn)
        searchable = rows.vector_count(conn, ready.id) if ready else 0
    filling = [model for model in models if model.state == rows.FILLING]
    if filling:
        meanwhile = (
            "searches use the previous model meanwhile"
            if ready
            else "searches use keywords meanwhile"
        )
        return MeaningStatus(
            f"Reading captions with {filling[-1].label}: {pending:,} left ({meanwhile}).",
            "info",
            True,
        )
    try:
        choice = choose_embedding_model(setting, models_dir)
    except EmbeddingModelMissing as missing:
        if ready is None:
            return MeaningStatus(f"{missing} Keyword search only until then.", "error", False)
        return MeaningStatus(f"{missing}", "error", False)
    if ready is not None:
        waiting = f"; {counted(pending, 'new caption')} waiting" if pending else ""
        # Another model chosen: the worker is about to start reading with it.
        switching = choice is not None and choice.label != ready.label
        return MeaningStatus(
            f"Ready — {counted(searchable, 'caption')} searchable with {ready.label}{waiting}.",
            "ok",
            bool(pending) or switching,
        )
    if choice is None:
        return MeaningStatus(NO_MODEL, "warn", False)
    return MeaningStatus(
        f"{choice.label} is installed; it reads your captions in the background once the "
        "caption worker runs (keyword search until then).",
        "info",
        True,
    )
