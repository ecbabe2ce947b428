"""Typed events sent between processes as JSON lines: the codec every protocol shares.

The caption worker, the training process and the fine-tune job each talk to their owner
in JSON lines (`{"event": KIND, ...fields}`). Each protocol declares its kinds as frozen
dataclasses of `LineEvent` in its own events module and lists them in an
`EventProtocol`; the owner decodes a line once, where it is read, and from then on
works with the dataclasses, so a renamed field is a type error instead of a silent
`None`. A line that is not a known, well-formed event is a logged warning, never a crash.

The lines stay exactly what they were before the events were typed (other tools read
`--json`): the fields are the JSON keys in declaration order, a field declared with
`omitted_if_default` is left out while it holds its default, and the protocol version
travels as "v" only once it differs from 1, the format every line had before it.
"""

from __future__ import annotations

import json
import logging
import types
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field, fields
from typing import (
    Any,
    ClassVar,
    Generic,
    Self,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1  # the lines as they were before they carried a version
KIND_KEY = "event"
VERSION_KEY = "v"
_OMIT = "omitted_if_default"


class MalformedEvent(ValueError):
    """A line names a known kind but its fields do not fit the kind's dataclass."""


def omitted_if_default(default: Any) -> Any:
    """A field that only appears in the line when it differs from `default` (as it
    was written before the events were typed: e.g. `refused` only when true)."""
    return field(default=default, metadata={_OMIT: True})


@dataclass(frozen=True)
class LineEvent:
    """One event kind of a process protocol; subclasses set `event` (the JSON kind)."""

    event: ClassVar[str] = ""
    version: int = field(default=PROTOCOL_VERSION, kw_only=True, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {KIND_KEY: self.event}
        for f in fields(self):
            if f.name == "version":
                continue
            value = getattr(self, f.name)
            if f.metadata.get(_OMIT) and value == f.default:
                continue
            data[f.name] = value
        if self.version != PROTOCOL_VERSION:
            data[VERSION_KEY] = self.version
        return data

    def to_json(self) -> str:
        """The line (without its newline), byte for byte as the untyped code wrote it."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The event from a decoded line; raises MalformedEvent if it does not fit.
        Keys this version does not know are ignored (a newer emitter may add some)."""
        version = data.get(VERSION_KEY, PROTOCOL_VERSION)
        if version != PROTOCOL_VERSION:
            raise MalformedEvent(f"{cls.event}: protocol version {version!r} is not understood")
        hints = _field_types(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "version":
                continue
            if f.name not in data:
                if f.default is MISSING and f.default_factory is MISSING:
                    raise MalformedEvent(f"{cls.event}: {f.name} is missing")
                continue
            value = data[f.name]
            if not _fits(value, hints[f.name]):
                raise MalformedEvent(f"{cls.event}: {f.name}={value!r} is not {hints[f.name]}")
            values[f.name] = value
        return cls(**values)

    @classmethod
    def from_json(cls, line: str) -> Self:
        data = json.loads(line)
        if not isinstance(data, dict) or data.get(KIND_KEY) != cls.event:
            raise MalformedEvent(f"not a {cls.event} event: {line[:200]!r}")
        return cls.from_dict(data)


E = TypeVar("E", bound=LineEvent)


class EventProtocol(Generic[E]):
    """The kinds one process sends, and the one place its lines become events."""

    def __init__(self, name: str, kinds: Iterable[type[E]]) -> None:
        self.name = name
        self.kinds: dict[str, type[E]] = {}
        for kind in kinds:
            if not kind.event or kind.event in self.kinds:
                raise ValueError(f"{name}: event kind {kind.event!r} is empty or listed twice")
            self.kinds[kind.event] = kind

    def decode(self, line: str) -> E | None:
        """The event on this line; None (and a warning) for anything else, so a stray
        print or a newer peer never takes the reader down."""
        text = line.strip()
        if not text:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            log.warning("%s: not an event line: %.200s", self.name, text)
            return None
        name = data.get(KIND_KEY) if isinstance(data, dict) else None
        kind = self.kinds.get(name) if isinstance(name, str) else None
        if kind is None:
            log.warning("%s: unknown event: %.200s", self.name, text)
            return None
        try:
            return kind.from_dict(data)
        except MalformedEvent as exc:
            log.warning("%s: malformed event (%s): %.200s", self.name, exc, text)
            return None


_FIELD_TYPES: dict[type, dict[str, Any]] = {}


def _field_types(cls: type) -> dict[str, Any]:
    """The resolved annotations (`from __future__ import annotations` keeps them as
    strings); resolved once per kind, not per line."""
    hints = _FIELD_TYPES.get(cls)
    if hints is None:
        hints = _FIELD_TYPES[cls] = get_type_hints(cls)
    return hints


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a field's annotation (JSON has no tuples, and an
    integral float such as 2.0 may come back as written; ints count as floats)."""
    if hint is Any:
        return True
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_fits(value, arg) for arg in get_args(hint))
    if hint is type(None) or hint is None:
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    args = get_args(hint)
    if origin is list:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value if args)
    if origin is dict:
        return isinstance(value, dict) and all(_fits(v, args[1]) for v in value.values() if args)
    return isinstance(value, hint)
