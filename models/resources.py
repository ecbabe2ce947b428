"""Where the model layer finds its data files (catalog, prompts).

The repository's resources/ folder, beside this package; a frozen app bundles it
at the same place relative to the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESOURCES = Path(__file__).resolve().parents[1] / "resources"


def load_json(name: str, folder: Path | None = None) -> Any:
    return json.loads(((folder or RESOURCES) / name).read_text(encoding="utf-8"))
