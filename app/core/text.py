"""Words for counts ("1 item", "3 items"), shared by the core, the CLI and the UI.

Qt-free so core reports and CLI messages read like the window's; one rule instead
of a `'s' if n != 1` in every message.
"""

from __future__ import annotations


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """`noun` for exactly one, else its plural (`noun` + "s" unless given)."""
    if count == 1:
        return noun
    return plural_noun if plural_noun is not None else noun + "s"


def counted(count: int, noun: str, plural_noun: str | None = None) -> str:
    """ "1 item", "3 items": the count and the noun that fits it."""
    return f"{count:,} {plural(count, noun, plural_noun)}"
