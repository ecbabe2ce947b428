"""What the commands print: file names shown safely, JSON that keeps them lossless,
errors as one sentence (and, with `--json`, as a JSON object on stdout), interrupts.

File names on Linux are bytes; Python hands them around as `str` with the bytes that
are not UTF-8 smuggled in as lone surrogates (PEP 383). Such a string cannot be
written to a UTF-8 terminal or into JSON, and a name may hold a newline or a tab
that would break a line-per-result listing. So:
- `shown(name)` is for people: undecodable bytes as `\\xNN`, control characters
  escaped (`\\n`, `\\t`, `\\x1b`), so one result is one line;
- `json_path(name)` is for programs: {"path": the name as text (undecodable bytes
  as U+FFFD)} plus, only when the name is not valid UTF-8, "path_bytes": its exact
  bytes in base64, so a tool can still open the file.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from app.core.library.library import Library
from app.core.storage.item_rows import item_at, item_summary

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT  # what a shell reports for Ctrl+C
INTERRUPTED = "interrupted"

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def raw_name(name: str | bytes) -> bytes:
    """The exact bytes of a file name given as bytes or as an os.fsdecode'd str."""
    return name if isinstance(name, bytes) else os.fsencode(name)


def shown(name: str | bytes) -> str:
    """A file name for a terminal: always printable, one line, unambiguous."""
    text = raw_name(name).decode("utf-8", "backslashreplace")
    return "".join(
        _ESCAPES.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x20 or ord(c) == 0x7F else c)
        for c in text
    )


def json_path(name: str | bytes, key: str = "path") -> dict[str, str]:
    """{key: the name as text} and, when the name is not valid UTF-8, its bytes."""
    raw = raw_name(name)
    try:
        return {key: raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {
            key: raw.decode("utf-8", "replace"),
            f"{key}_bytes": base64.b64encode(raw).decode("ascii"),
        }


def print_json(value: Any, **kwargs: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, **kwargs), flush=True)


def fail(args: argparse.Namespace, message: str, code: int = EXIT_FAILED) -> int:
    """One sentence on stderr; with `--json`, also {"error", "exit_code"} on stdout
    (a tool reading stdout then gets an answer instead of nothing)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    if getattr(args, "json", False):
        print_json({"error": message, "exit_code": int(code)})
    return code


def safe_streams() -> None:
    """Whatever slips through unescaped is printed escaped rather than raising
    UnicodeEncodeError halfway through a command's output."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with suppress(ValueError, OSError):  # an odd replaced stream: leave it
                reconfigure(errors="backslashreplace")


class Interrupt:
    """Ctrl+C (SIGINT) and SIGTERM as a flag the command checks, instead of an
    exception thrown wherever it happens to be: the command then stops at a safe
    point, reports what it finished and cleans up."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: int | None = None

    def __call__(self) -> bool:
        """Whether a signal came (the event may also be set to wake a wait)."""
        return self.signal is not None

    def _set(self, signum: int, _frame: object) -> None:
        self.signal = signum
        self.event.set()

    @property
    def exit_code(self) -> int:
        return 128 + (self.signal or signal.SIGINT)

    @contextmanager
    def installed(self) -> Iterator[Interrupt]:
        wanted = [signal.SIGINT, signal.SIGTERM]
        if threading.current_thread() is not threading.main_thread():
            yield self  # signal handlers can only be set on the main thread
            return
        previous = {s: signal.getsignal(s) for s in wanted}
        for s in wanted:
            signal.signal(s, self._set)
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def item_id_of(library: Library, given: str) -> int | None:
    """The library item a number (its id) or a path names, or None."""
    with library.db.read() as conn:
        if given.isdigit() and item_summary(conn, int(given)) is not None:
            return int(given)
        found = item_at(conn, os.path.realpath(os.fsencode(given)))
    return None if found is None else found[0]
