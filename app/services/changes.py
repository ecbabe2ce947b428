"""What an operation changed, and the one hub that tells every view.

Anki's `OpChanges` is the model: whoever changes the library (a caption edit, an item
action, a hand-over, the folder watcher, the caption worker, Settings, the fine-tune
screen) publishes a `Changes` describing *what* changed, never *who should refresh*.
Each view subscribes to the hub and decides whether a change concerns it. Parts receive
the hub, not the window, so nothing reaches back up into `MainWindow`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal


@dataclass(frozen=True)
class Changes:
    """One operation's effect on the library. Flags combine with `|`."""

    items: frozenset[int] = field(default_factory=frozenset)  # rows whose content changed
    all_items: bool = False  # any row may show another state (e.g. the queue was cancelled)
    listing: bool = False  # which items a view lists may differ (added, removed, re-captioned)
    counts: bool = False  # the view counts and library totals may differ
    folders: bool = False  # library folders were added, removed or rescanned
    queue: bool = False  # caption jobs were queued, retried, cancelled, paused or resumed
    captioning: bool = False  # models, adapters or caption settings: the worker re-reads them
    settings: frozenset[str] = field(default_factory=frozenset)  # setting keys that changed

    @classmethod
    def of_items(
        cls,
        ids: Iterable[int],
        *,
        listing: bool = False,
        counts: bool = False,
        folders: bool = False,
        queue: bool = False,
    ) -> Changes:
        """These rows changed, and perhaps more: the common shape of an operation."""
        return cls(frozenset(ids), listing=listing, counts=counts, folders=folders, queue=queue)

    def __or__(self, other: Changes) -> Changes:
        return Changes(
            items=self.items | other.items,
            all_items=self.all_items or other.all_items,
            listing=self.listing or other.listing,
            counts=self.counts or other.counts,
            folders=self.folders or other.folders,
            queue=self.queue or other.queue,
            captioning=self.captioning or other.captioning,
            settings=self.settings | other.settings,
        )

    def touches_rows(self, ids: Iterable[int]) -> bool:
        """True if any of these rows may look different now."""
        return self.all_items or not self.items.isdisjoint(ids)


# The common operations, named once so publishers and tests agree on what they mean.
EDITED = Changes(listing=True, counts=True)  # + items: captions, accept, remove, restore
QUEUED = Changes(queue=True)  # + items: jobs added at the front of the line
FOLDERS_CHANGED = Changes(listing=True, counts=True, folders=True)  # added, removed, scanning
LIBRARY_SCANNED = FOLDERS_CHANGED | QUEUED  # a scan or watch batch queues new files too


class ChangeHub(QObject):
    """Hands each published `Changes` to every subscriber, on the GUI thread."""

    changed = Signal(object)  # Changes

    def publish(self, changes: Changes) -> None:
        self.changed.emit(changes)
