"""The database vocabulary stays the strings already stored in users' databases."""

from app.core.storage.states import IN_LIBRARY, OUT_OF_LIBRARY, ItemState, JobState


def test_states_are_the_stored_strings() -> None:
    assert [s.value for s in ItemState] == ["new", "ok", "error", "missing", "removed"]
    assert [s.value for s in JobState] == ["queued", "running", "done", "failed", "cancelled"]
    assert ItemState.MISSING == "missing"
    assert f"{JobState.QUEUED}" == "queued"


def test_in_library_sql_matches_the_enum() -> None:
    listed = ", ".join(f"'{s}'" for s in OUT_OF_LIBRARY)
    assert f"m.state NOT IN ({listed})" == IN_LIBRARY
