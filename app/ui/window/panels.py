"""The side panels around the grid: shown or hidden by the user (View menu: Ctrl+B the
library panel, Ctrl+I the details panel, Ctrl+Shift+B both, as Lightroom's Tab and
Shift+Tab do; Tab itself stays the key that moves focus), remembered across runs, and
folded away on their own when the window gets too narrow for the grid.

The grid has priority: with less than `GRID_MIN` pixels left for it, the details panel
folds first, then the library panel; they come back when the window is wide enough
again. A panel folded for lack of room is not the user's choice, so it is not what is
remembered; a panel the user asks for is shown even where it leaves the grid narrow.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSettings
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QSplitter, QWidget

GRID_MIN = 440  # two columns of the default thumbnails, with their spacing
SIDE_MIN = {"library": 200, "details": 300}
KEYS = {"library": "Ctrl+B", "details": "Ctrl+I"}
TITLES = {"library": "Library panel", "details": "Details panel"}


class SidePanels(QObject):
    def __init__(
        self, window: QWidget, splitter: QSplitter, library: QWidget, details: QWidget
    ) -> None:
        super().__init__(window)
        self.splitter = splitter
        self.panels = {"library": library, "details": details}
        self.wanted = {"library": True, "details": True}  # the user's choice
        self._width = {"library": 280, "details": 380}
        self._forced: str | None = None  # asked for by the user while there was no room
        self.actions: dict[str, QAction] = {}
        for name, panel in self.panels.items():
            panel.setMinimumWidth(SIDE_MIN[name])
            splitter.setCollapsible(splitter.indexOf(panel), False)
            action = QAction(TITLES[name], window)
            action.setCheckable(True)
            action.setChecked(True)
            action.setShortcut(QKeySequence(KEYS[name]))
            action.triggered.connect(lambda checked, n=name: self.set_wanted(n, checked))
            self.actions[name] = action
        self.both = QAction("Hide or show both panels", window)
        self.both.setShortcut(QKeySequence("Ctrl+Shift+B"))
        self.both.triggered.connect(self.toggle_both)
        splitter.splitterMoved.connect(lambda *_: self._remember_widths())
        splitter.installEventFilter(self)

    # -- the user's choice ----------------------------------------------------------------
    def set_wanted(self, name: str, shown: bool) -> None:
        self._remember_widths()
        self.wanted[name] = shown
        self._forced = name if shown else None
        self.fit()

    def toggle_both(self) -> None:
        """Both hidden unless both are hidden already (then both back)."""
        show = not any(panel.isVisible() for panel in self.panels.values())
        self._remember_widths()
        self.wanted = dict.fromkeys(self.panels, show)
        self._forced = None
        self.fit()

    def save(self, settings: QSettings) -> None:
        self._remember_widths()
        for name in self.panels:
            settings.setValue(f"panels/{name}", self.wanted[name])

    def restore(self, settings: QSettings) -> None:
        for name in self.panels:
            self.wanted[name] = str(settings.value(f"panels/{name}", "true")).lower() == "true"
        self._remember_widths()
        self.fit()

    # -- room ----------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self.splitter and event.type() == QEvent.Type.Resize:
            self._forced = None  # a new size: room decides again
            self.fit()
        return False

    def fit(self) -> None:
        """Show what the user wants and the room allows: the library panel has the
        first claim on the room beside the grid, the details panel the second."""
        room = self.splitter.width() or self.splitter.sizeHint().width()
        shown: dict[str, bool] = {}
        for name in ("library", "details"):
            used = sum(self._width[n] for n, on in shown.items() if on)
            fits = room - used - self._width[name] >= GRID_MIN
            shown[name] = self.wanted[name] and (fits or self._forced == name)
        for name, panel in self.panels.items():
            if panel.isHidden() == shown[name]:
                panel.setVisible(shown[name])
            self.actions[name].setChecked(shown[name])
        self._apply_widths(shown)

    def folded(self, name: str) -> bool:
        """Hidden for lack of room, though the user wants it."""
        return self.wanted[name] and self.panels[name].isHidden()

    def _apply_widths(self, shown: dict[str, bool]) -> None:
        sizes = self.splitter.sizes()
        total = sum(sizes)
        side = 0
        for name, panel in self.panels.items():
            index = self.splitter.indexOf(panel)
            sizes[index] = self._width[name] if shown[name] else 0
            side += sizes[index]
        panels = list(self.panels.values())
        grid = next(
            i for i in range(self.splitter.count()) if self.splitter.widget(i) not in panels
        )
        sizes[grid] = max(total - side, GRID_MIN // 2)
        self.splitter.setSizes(sizes)

    def _remember_widths(self) -> None:
        for name, panel in self.panels.items():
            if panel.isVisible() and panel.width() >= SIDE_MIN[name]:
                self._width[name] = panel.width()
