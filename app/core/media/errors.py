"""The one error type media decoding raises for a file the user has to hear about."""

from __future__ import annotations


class MediaError(Exception):
    """A per-file problem with a user-facing reason ("truncated or corrupt image ...").

    The message is shown next to the item as is, so it names what is wrong with the
    file in plain words, never a traceback or a decoder's internals alone.
    """

    @property
    def reason(self) -> str:
        return str(self)


class MediaCancelled(Exception):
    """The caller asked to stop (should_stop returned True): not a problem with the file,
    so deliberately not a MediaError that would mark the item as failed."""
