"""Which fine-tuned adapter captions with each model, as the caption worker reads it.

It lives here, not in app.core.finetune, because fine-tuning already uses the
captioning package (settings, media preparation, model choice): the worker
importing the fine-tune registry made the two packages import each other.
Fine-tuning writes the `adapters` table; captioning only reads which one is active.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, select

from app.core.storage.schema import Adapter


@dataclass(frozen=True)
class ActiveAdapter:
    """What the caption worker needs of a model's active adapter."""

    id: str
    gguf_path: Path


def active_adapters(conn: Connection) -> dict[str, ActiveAdapter]:
    """Every model's active adapter, by model id: one small query, for the worker to
    run inside a transaction it holds anyway."""
    rows = conn.execute(
        select(Adapter.model_id, Adapter.id, Adapter.gguf_path).where(Adapter.active.is_(True))
    )
    return {row.model_id: ActiveAdapter(row.id, Path(row.gguf_path)) for row in rows}
