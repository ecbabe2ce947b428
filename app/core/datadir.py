"""Where Captionist keeps its state.

Everything (database, thumbnails, models, adapters) lives under one directory so that
`--data-dir` can point a test, a benchmark or a portable install somewhere else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from app import APP_NAME
from app.core.storage.problems import StorageProblem

DATA_DIR_ENV = "CAPTIONIST_DATA_DIR"


@dataclass(frozen=True)
class DataDir:
    root: Path

    @classmethod
    def resolve(cls, explicit: str | os.PathLike[str] | None = None) -> DataDir:
        """`--data-dir` wins, then $CAPTIONIST_DATA_DIR, then the platform default."""
        chosen = (
            explicit
            or os.environ.get(DATA_DIR_ENV)
            or platformdirs.user_data_dir(APP_NAME, appauthor=False)
        )
        root = Path(chosen).expanduser().resolve()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except FileExistsError as exc:
            raise StorageProblem(
                f"the data folder {root} is a file, not a folder: move the file away, "
                "or choose another folder with --data-dir"
            ) from exc
        except OSError as exc:
            raise StorageProblem(
                f"cannot make the data folder {root} ({exc.strerror}): choose another "
                "folder with --data-dir"
            ) from exc
        return cls(root)

    @property
    def database(self) -> Path:
        return self.root / "library.db"

    @property
    def thumbnails(self) -> Path:
        return self._sub("thumbnails")

    @property
    def models(self) -> Path:
        return self._sub("models")

    @property
    def adapters(self) -> Path:
        return self._sub("adapters")

    def _sub(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path
