"""The double-click app for tests and benchmarks: built once per change of what goes into
it, then reused; and the environment that lets its training-runtime installer use the
local package sources this machine is set up with.

The build (PyInstaller, minutes) is cached in ~/.cache/captionist-ci/bundle-<key>/, the key
a hash of the sources, the spec and the installed distributions; only the newest build is
kept. uv's cache stays where uv keeps it (~/.cache/uv), so a rebuilt runtime downloads
nothing it downloaded before.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "captionist.spec"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "captionist-ci"
EXE = ".exe" if sys.platform == "win32" else ""
INPUTS = ("app", "models", "resources", "main.py", "packaging/captionist.spec", "pyproject.toml")


def bundle_key() -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(path.rglob("*"))
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(ROOT)).encode())
                digest.update(file.read_bytes())
    dists = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    digest.update("\n".join([sys.version, *dists]).encode())
    return digest.hexdigest()[:16]


def build(dist: Path, work: Path) -> float:
    """PyInstaller into `dist` (niced: it shares the machine); seconds taken."""
    started = time.perf_counter()
    nice = ["nice", "-n", "10"] if shutil.which("nice") else []
    subprocess.run(
        [*nice, sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(dist), "--workpath", str(work), str(SPEC)],
        check=True, cwd=ROOT,
    )  # fmt: skip
    return time.perf_counter() - started


def cached_bundle() -> tuple[Path, float | None]:
    """(the built Captionist/ folder, build seconds or None when it came from the cache)."""
    key = bundle_key()
    home = CACHE / f"bundle-{key}"
    bundle = home / "dist" / "Captionist"
    if (bundle / f"captionist-cli{EXE}").is_file():
        return bundle, None
    CACHE.mkdir(parents=True, exist_ok=True)
    temp = CACHE / f"building-{key}-{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    took = build(temp / "dist", temp / "build")
    shutil.rmtree(temp / "build", ignore_errors=True)
    for old in CACHE.glob("bundle-*"):  # keep the newest build only (~600 MB each)
        shutil.rmtree(old, ignore_errors=True)
    temp.rename(home)
    return bundle, took


def runtime_sources_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The installer's environment on this machine: uv's own cache (kept between runs),
    and pip's configured find-links (a local wheel folder) for uv too; when that folder has
    the pinned torch, torch comes from there instead of download.pytorch.org."""
    from models.finetune import runtime

    env = dict(os.environ if base is None else base)
    env.setdefault("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))
    links = env.get("PIP_FIND_LINKS", "")
    folders = [Path(p) for p in links.split() if Path(p).is_dir()]
    if folders:
        env.setdefault("UV_FIND_LINKS", ",".join(str(f) for f in folders))
        torch = runtime.pins()["torch"]
        if any(any(f.glob(f"torch-{torch}*.whl")) for f in folders):
            env.setdefault(runtime.TORCH_INDEX_ENV, "none")
    return env
