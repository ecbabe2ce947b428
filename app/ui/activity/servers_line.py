"""The activity panel's lines about the caption pool's members (issue 13): each
inference server (and "this computer" when it captions too) with its health and its
throughput, from the worker's MemberStatus events.

    ● gpu-box · 24/min · 2 working
    ○ old-laptop: down

Hidden until the first MemberStatus: with only this computer captioning there is
nothing to say that the panel does not say already.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from app.core.captioning.events import MemberStatus

HEALTHY, UNHEALTHY = "●", "○"


def member_text(status: MemberStatus) -> str:
    if not status.healthy:
        return f"{UNHEALTHY} {status.name}: {status.reason or 'not answering'}"
    parts = [f"{HEALTHY} {status.name}"]
    if status.per_minute:
        parts.append(f"{status.per_minute:.0f}/min")
    if status.in_flight:
        parts.append(f"{status.in_flight} working")
    return " · ".join(parts)


class ServersLine(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("servers_line")
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.members: dict[str, MemberStatus] = {}
        self.hide()

    def update_member(self, status: MemberStatus) -> None:
        self.members[status.name] = status
        ordered = sorted(self.members.values(), key=lambda s: (not s.healthy, s.name))
        self.setText("\n".join(member_text(s) for s in ordered))  # one line per server
        unhealthy = [s for s in ordered if not s.healthy]
        self.setProperty(
            "tone", "warn" if unhealthy and len(unhealthy) == len(ordered) else "muted"
        )
        self.style().unpolish(self)
        self.style().polish(self)
        self.setToolTip(
            "\n".join(f"{s.name}: {s.reason}" for s in unhealthy) or "Captioning on these servers"
        )
        self.show()
