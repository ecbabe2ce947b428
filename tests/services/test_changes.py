"""The change hub: what an operation changed, combined and handed to every subscriber."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from app.services.changes import (
    EDITED,
    FOLDERS_CHANGED,
    LIBRARY_SCANNED,
    QUEUED,
    ChangeHub,
    Changes,
)


def test_changes_combine_items_flags_and_settings() -> None:
    combined = (
        Changes.of_items([1, 2], counts=True)
        | Changes.of_items([2, 3], queue=True)
        | Changes(settings=frozenset({"prompt_id"}))
    )
    assert combined.items == {1, 2, 3}
    assert combined.counts and combined.queue and not combined.listing
    assert combined.settings == {"prompt_id"}
    assert (Changes() | Changes()) == Changes()


def test_rows_are_touched_only_by_their_own_ids_or_by_all() -> None:
    assert Changes.of_items([5]).touches_rows([4, 5])
    assert not Changes.of_items([5]).touches_rows([4])
    assert not Changes(counts=True).touches_rows([4])
    assert Changes(all_items=True).touches_rows([4])


def test_the_named_operations_say_what_they_change() -> None:
    assert EDITED.listing and EDITED.counts and not EDITED.queue
    assert QUEUED.queue and not QUEUED.listing
    assert FOLDERS_CHANGED.folders and FOLDERS_CHANGED.listing and not FOLDERS_CHANGED.queue
    assert LIBRARY_SCANNED == FOLDERS_CHANGED | QUEUED


def test_every_subscriber_receives_each_published_change(qtbot: QtBot) -> None:
    hub = ChangeHub()
    first: list[Changes] = []
    second: list[Changes] = []
    hub.changed.connect(first.append)
    hub.changed.connect(second.append)
    change = Changes.of_items([7], counts=True)
    with qtbot.waitSignal(hub.changed, timeout=1000):
        hub.publish(change)
    assert first == second == [change]
