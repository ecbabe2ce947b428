"""The adapters fine-tuning produced, and which one captions with each model.

Activation is where a bad adapter is stopped: llama.cpp 0.3.36 loads almost any
file given as a LoRA without complaint, so the file is checked against the model's
GGUF (`models.finetune.adapter_check`) first, and an adapter that scored worse than
no adapter on the held-out corrections is refused unless the user insists. A refusal
changes nothing: the adapter active before stays active.

Rollback walks back through activations: activating stamps `activated_at`, rolling
back clears the stamp of the adapter it leaves and re-activates the one stamped
before it (or none), so repeated rollbacks step further back.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from app.core.storage.db import Database, now
from app.core.storage.schema import Adapter, Caption

METRIC_ORDER = ("cider", "rouge_l", "bleu4")  # the seed prefers CIDEr; ties go down the list
METRIC_NAMES = {"cider": "CIDEr", "rouge_l": "ROUGE-L", "bleu4": "BLEU-4"}
TIE = 1e-9


class AdapterRefused(Exception):
    """An adapter cannot be activated (or rolled back to); the message says why."""


@dataclass(frozen=True)
class AdapterRecord:
    id: str
    model_id: str
    version: int
    created_at: float
    gguf_path: str
    peft_dir: str | None
    base_gguf: str  # the model GGUF it was trained over and checked against
    method: str  # "lora" | "qlora"
    settings: dict[str, Any]  # lora/train settings, holdout share, method_reason, ...
    corrections_used: int  # training examples
    heldout_count: int  # evaluation examples
    metrics_before: dict[str, float] | None  # held-out scores without the adapter
    metrics_after: dict[str, float] | None  # and with it
    samples: dict[str, Any] | None  # {"before": [{id, reference, candidate}], "after": [...]}
    train_seconds: float | None
    active: bool
    activated_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def worse_reason(self) -> str | None:
        """Why this adapter scores worse than no adapter, or None if it does not."""
        return scores_worse(self.metrics_before, self.metrics_after)


def scores_worse(before: dict[str, float] | None, after: dict[str, float] | None) -> str | None:
    """Compare held-out scores, CIDEr first (then ROUGE-L, BLEU-4 on a tie). Without
    both (no held-out corrections) nothing says it is worse: None."""
    if not before or not after:
        return None
    for key in METRIC_ORDER:
        old, new = before.get(key), after.get(key)
        if old is None or new is None or abs(new - old) <= TIE:
            continue
        if new < old:
            return (
                f"it scores worse than the model without it on the held-out corrections "
                f"({METRIC_NAMES[key]} {old:.3f} → {new:.3f})"
            )
        return None
    return None


class AdapterRegistry:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- reading ----------------------------------------------------------------------
    def list(self, model_id: str | None = None) -> list[AdapterRecord]:
        """Newest first."""
        query = select(Adapter).order_by(Adapter.created_at.desc(), Adapter.version.desc())
        if model_id is not None:
            query = query.where(Adapter.model_id == model_id)
        with self._db.read_session() as session:
            return [_record(a) for a in session.scalars(query)]

    def get(self, adapter_id: str) -> AdapterRecord | None:
        with self._db.read_session() as session:
            row = session.get(Adapter, adapter_id)
            return _record(row) if row is not None else None

    def active_for(self, model_id: str) -> AdapterRecord | None:
        with self._db.read_session() as session:
            row = session.scalars(
                select(Adapter).where(Adapter.model_id == model_id, Adapter.active.is_(True))
            ).first()
            return _record(row) if row is not None else None

    # -- adding -----------------------------------------------------------------------
    def new_id(self, model_id: str, *, adapters_dir: Path | None = None) -> tuple[str, int]:
        """The id and version the next adapter of this model gets: "<model>-v<n>". An id
        that captions still name (of a deleted adapter) or a folder still holds is
        skipped, so provenance never points at two different adapters."""
        stem = re.sub(r"[^a-z0-9._-]+", "-", model_id.lower()).strip("-") or "model"
        with self._db.read() as conn:
            version = (
                conn.execute(
                    select(func.max(Adapter.version)).where(Adapter.model_id == model_id)
                ).scalar()
                or 0
            ) + 1
            while True:
                adapter_id = f"{stem}-v{version}"
                named = conn.execute(
                    select(Caption.id).where(Caption.adapter_id == adapter_id).limit(1)
                ).first()
                on_disk = adapters_dir is not None and (adapters_dir / adapter_id).exists()
                if not named and not on_disk:
                    return adapter_id, version
                version += 1

    def register(
        self,
        *,
        adapter_id: str,
        version: int,
        model_id: str,
        gguf_path: Path,
        base_gguf: Path,
        method: str,
        settings: dict[str, Any],
        corrections_used: int,
        heldout_count: int,
        peft_dir: Path | None = None,
        metrics_before: dict[str, float] | None = None,
        metrics_after: dict[str, float] | None = None,
        samples: dict[str, Any] | None = None,
        train_seconds: float | None = None,
    ) -> AdapterRecord:
        """Record a finished adapter, inactive (`activate` decides whether it is used)."""
        with self._db.write() as conn:
            conn.execute(
                insert(Adapter).values(
                    id=adapter_id,
                    model_id=model_id,
                    version=version,
                    created_at=now(),
                    gguf_path=str(gguf_path),
                    peft_dir=str(peft_dir) if peft_dir is not None else None,
                    base_gguf=str(base_gguf),
                    method=method,
                    settings=settings,
                    corrections_used=corrections_used,
                    heldout_count=heldout_count,
                    metrics_before=metrics_before,
                    metrics_after=metrics_after,
                    samples=samples,
                    train_seconds=train_seconds,
                    active=False,
                )
            )
        record = self.get(adapter_id)
        assert record is not None
        return record

    # -- choosing ---------------------------------------------------------------------
    def activate(self, adapter_id: str, *, force: bool = False) -> AdapterRecord:
        """Make this the model's adapter. `force` overrides a worse score, never a file
        that does not fit the model. Raises AdapterRefused; then nothing changed."""
        record = self._existing(adapter_id)
        if record.active:
            return record
        _check_file(record)
        worse = record.worse_reason
        if worse and not force:
            raise AdapterRefused(f"{record.id} was not activated: {worse}")
        with self._db.write() as conn:
            _deactivate(conn, record.model_id)
            conn.execute(
                update(Adapter)
                .where(Adapter.id == adapter_id)
                .values(active=True, activated_at=now())
            )
        return self._existing(adapter_id)

    def deactivate(self, model_id: str) -> AdapterRecord | None:
        """Caption with the plain model again. Returns the adapter that was active."""
        active = self.active_for(model_id)
        if active is not None:
            with self._db.write() as conn:
                _deactivate(conn, model_id)
        return active

    def rollback(self, model_id: str) -> AdapterRecord | None:
        """Go back to the adapter active before the current one (None: no adapter)."""
        current = self.active_for(model_id)
        if current is None:
            raise AdapterRefused(f"no adapter is active for {model_id}: nothing to roll back")
        with self._db.session() as session:
            previous = session.scalars(
                select(Adapter)
                .where(
                    Adapter.model_id == model_id,
                    Adapter.id != current.id,
                    Adapter.activated_at.is_not(None),
                )
                .order_by(Adapter.activated_at.desc())
                .limit(1)
            ).first()
            back_to = _record(previous) if previous is not None else None
        if back_to is not None:
            _check_file(back_to)
        with self._db.write() as conn:
            conn.execute(
                update(Adapter)
                .where(Adapter.id == current.id)
                .values(active=False, activated_at=None)
            )
            if back_to is not None:
                conn.execute(update(Adapter).where(Adapter.id == back_to.id).values(active=True))
        return self.get(back_to.id) if back_to is not None else None

    def delete(self, adapter_id: str) -> None:
        """Forget an adapter and delete its files (deactivating it if it was active)."""
        record = self._existing(adapter_id)
        with self._db.write() as conn:
            conn.execute(delete(Adapter).where(Adapter.id == adapter_id))
        folder = Path(record.gguf_path).parent
        if folder.name == record.id:  # the job's layout: <data>/adapters/<id>/
            shutil.rmtree(folder, ignore_errors=True)
        else:
            Path(record.gguf_path).unlink(missing_ok=True)
            if record.peft_dir:
                shutil.rmtree(record.peft_dir, ignore_errors=True)

    def _existing(self, adapter_id: str) -> AdapterRecord:
        record = self.get(adapter_id)
        if record is None:
            raise AdapterRefused(f"there is no adapter {adapter_id!r} (see `adapters list`)")
        return record


def _check_file(record: AdapterRecord) -> None:
    # Imported here: the caption worker imports this module for `active_adapters` only.
    from models.finetune.adapter_check import AdapterError, check_adapter

    base = Path(record.base_gguf)
    if not base.is_file():
        raise AdapterRefused(
            f"{record.id} cannot be used: the model file it was trained for is gone ({base})"
        )
    try:
        check_adapter(base, Path(record.gguf_path))
    except AdapterError as exc:
        raise AdapterRefused(f"{record.id} cannot be used: {exc}") from exc


def _deactivate(conn: Connection, model_id: str) -> None:
    conn.execute(
        update(Adapter)
        .where(Adapter.model_id == model_id, Adapter.active.is_(True))
        .values(active=False)
    )


def _record(row: Adapter) -> AdapterRecord:
    return AdapterRecord(
        id=row.id,
        model_id=row.model_id,
        version=row.version,
        created_at=row.created_at,
        gguf_path=row.gguf_path,
        peft_dir=row.peft_dir,
        base_gguf=row.base_gguf,
        method=row.method,
        settings=dict(row.settings or {}),
        corrections_used=row.corrections_used,
        heldout_count=row.heldout_count,
        metrics_before=row.metrics_before,
        metrics_after=row.metrics_after,
        samples=row.samples,
        train_seconds=row.train_seconds,
        active=bool(row.active),
        activated_at=row.activated_at,
    )
