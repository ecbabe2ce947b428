"""A stand-in for uv in the training-runtime tests: `venv DIR` makes DIR/bin/python (a
script that succeeds); `pip install ...` prints a few lines.
FAKE_UV_FAIL=TEXT: `pip` prints TEXT and exits 2. FAKE_UV_SLEEP=S: `pip` sleeps first
(and writes its pid to FAKE_UV_PIDFILE, to show it was killed)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main() -> int:
    args = sys.argv[1:]
    print("fake-uv " + " ".join(args), flush=True)
    if args[0] == "venv":
        folder = Path(args[-1])
        scripts = folder / ("Scripts" if os.name == "nt" else "bin")
        scripts.mkdir(parents=True)
        name = "python.exe" if os.name == "nt" else "python"
        python = scripts / name  # the install's last check imports torch & co: say yes
        python.write_text('#!/bin/sh\necho fake-python "$@"\n', encoding="utf-8")
        python.chmod(0o755)
        return 0
    if os.environ.get("FAKE_UV_SLEEP"):
        # Written whole then renamed: the test cancels as soon as the file
        # exists, and a half-written file would hold no pid yet.
        pidfile = Path(os.environ["FAKE_UV_PIDFILE"])
        partial = pidfile.with_suffix(".partial")
        partial.write_text(str(os.getpid()), encoding="utf-8")
        partial.replace(pidfile)
        time.sleep(float(os.environ["FAKE_UV_SLEEP"]))
    if os.environ.get("FAKE_UV_FAIL"):
        print(os.environ["FAKE_UV_FAIL"], file=sys.stderr, flush=True)
        return 2
    print("Resolved 3 packages in 10ms\nInstalled 3 packages in 5ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
