"""Sample events for the protocol tests, built from each kind's field types, so a kind
added later is round-tripped without anyone writing its sample by hand."""

from __future__ import annotations

import inspect
import types
from dataclasses import fields
from typing import Any, Union, get_args, get_origin, get_type_hints

from models.event_lines import EventProtocol, LineEvent


def kinds_in(module: types.ModuleType) -> set[type[LineEvent]]:
    """Every event kind a module defines or re-exports (the bases name no kind)."""
    return {
        value
        for _name, value in inspect.getmembers(module, inspect.isclass)
        if issubclass(value, LineEvent) and value.event
    }


def sample(kind: type[LineEvent], *, optional_as_none: bool = False) -> LineEvent:
    """An instance with every field set: optional ones to a value, or to None."""
    hints = get_type_hints(kind)
    values = {
        f.name: _value(hints[f.name], optional_as_none) for f in fields(kind) if f.name != "version"
    }
    return kind(**values)


def assert_round_trips(protocol: EventProtocol[Any], kind: type[LineEvent]) -> None:
    for event in (sample(kind), sample(kind, optional_as_none=True)):
        line = event.to_json()
        assert "\n" not in line
        assert protocol.decode(line) == event, line
        assert protocol.decode(line + "\n") == event  # as read from a pipe
        assert kind.from_json(line) == event


def _value(hint: Any, optional_as_none: bool) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if optional_as_none and len(args) < len(get_args(hint)):
            return None
        return _value(args[0], optional_as_none)
    if hint is bool:
        return True
    if hint is int:
        return 7
    if hint is float:
        return 2.5
    if hint is str:
        return "naïve 'text' \"quoted\""  # non-ASCII and quotes stay as they are
    if origin is list:
        return [_value(get_args(hint)[0], optional_as_none)]
    if origin is dict:
        return {"key": _value(get_args(hint)[1], optional_as_none)}
    if hint is Any:
        return {"nested": [1, "two", None]}
    raise AssertionError(f"no sample for {hint!r}: teach tests/event_samples.py")
