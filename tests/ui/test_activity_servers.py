"""The activity panel's line about inference servers: hidden with no server events,
then each server's health and throughput from the worker's MemberStatus events."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from app.core.captioning.events import MemberStatus
from app.ui.activity.servers_line import ServersLine, member_text


def test_the_line_shows_each_server_and_says_which_are_down(qtbot: QtBot) -> None:
    line = ServersLine()
    qtbot.addWidget(line)
    assert line.isHidden()
    line.update_member(MemberStatus("gpu-box", True, None, 2, 24.4))
    line.update_member(MemberStatus("old-laptop", False, "old-laptop is not there (refused)", 0, 0))
    assert not line.isHidden()
    assert (
        line.text()
        == "● gpu-box · 24/min · 2 working\n○ old-laptop: old-laptop is not there (refused)"
    )
    assert "refused" in line.toolTip() and line.property("tone") == "muted"
    line.update_member(MemberStatus("gpu-box", False, "gpu-box timed out", 0, 0))
    assert line.property("tone") == "warn"  # nobody can caption now
    assert line.text().startswith("○ gpu-box: gpu-box timed out")


def test_member_words() -> None:
    assert member_text(MemberStatus("a", True, None, 0, 0)) == "● a"
    assert member_text(MemberStatus("a", True, None, 3, 0)) == "● a · 3 working"
