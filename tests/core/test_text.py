from app.core.text import counted, plural


def test_one_is_singular_everything_else_plural() -> None:
    assert counted(1, "item") == "1 item"
    assert counted(0, "item") == "0 items"
    assert counted(3, "caption job") == "3 caption jobs"
    assert plural(2, "match", "matches") == "matches"
    assert plural(1, "match", "matches") == "match"
