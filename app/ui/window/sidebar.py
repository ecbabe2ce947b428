"""The sidebar: smart views with their counts, and the library folders with their
watch state. Selecting an entry asks the window to show that view."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.gallery import VIEW_TITLES

VIEW_ROLE = Qt.ItemDataRole.UserRole
ROOT_ROLE = Qt.ItemDataRole.UserRole + 1
WATCH_LABELS = {
    "watching": "watching",
    "polling": "rescans every few minutes (cannot watch)",
    "off": "not watched",
    "scanning": "scanning…",
}


class Sidebar(QWidget):
    view_selected = Signal(str, object)  # view name, root id or None
    add_folder_requested = Signal()
    remove_folder_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setObjectName("sidebar")
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(False)
        self.tree.setIndentation(10)
        self.tree.setColumnCount(2)
        self.tree.setUniformRowHeights(True)
        self._views_header = self._header("Library")
        self._views: dict[str, QTreeWidgetItem] = {}
        for name, title in VIEW_TITLES.items():
            item = QTreeWidgetItem(self._views_header, [title, ""])
            item.setData(0, VIEW_ROLE, name)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._views[name] = item
        self._folders_header = self._header("Folders")
        self.tree.expandAll()
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, self.tree.header().ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, self.tree.header().ResizeMode.ResizeToContents)

        add = QPushButton("Add folder…")
        add.setObjectName("add_folder")
        add.clicked.connect(self.add_folder_requested)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("remove_folder")
        self.remove_button.setEnabled(False)
        self.remove_button.clicked.connect(self._remove)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        layout.addLayout(buttons)
        self._layout = layout
        self.tree.currentItemChanged.connect(self._selected)
        self.tree.setCurrentItem(self._views["all"])

    def _header(self, title: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(self.tree, [title.upper()])
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        font = item.font(0)
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 0.85)
        item.setFont(0, font)
        item.setForeground(0, self.palette().placeholderText())
        return item

    def add_footer(self, widget: QWidget) -> None:
        """A panel under the folders (the activity panel): always in sight."""
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        self._layout.addWidget(line)
        self._layout.addWidget(widget)

    # -- contents -----------------------------------------------------------------------
    def set_counts(self, counts: dict[str, int]) -> None:
        for name, item in self._views.items():
            item.setText(1, f"{counts.get(name, 0):,}")
            item.setForeground(1, self.palette().placeholderText())

    def set_folders(self, folders: list[tuple[int, str, str]]) -> None:
        """(root id, path, watch state) of each library folder."""
        current = self.current_selection()
        self.tree.blockSignals(True)
        self._folders_header.takeChildren()
        for root_id, path, state in folders:
            item = QTreeWidgetItem(self._folders_header, [os.path.basename(path) or path, ""])
            item.setData(0, VIEW_ROLE, "all")
            item.setData(0, ROOT_ROLE, root_id)
            item.setToolTip(0, f"{path}\n{WATCH_LABELS.get(state, state)}")
            if state == "polling":
                item.setText(1, "⟳")
                item.setToolTip(1, WATCH_LABELS["polling"])
            if current == ("all", root_id):
                self.tree.setCurrentItem(item)
        self._folders_header.setExpanded(True)
        self.tree.blockSignals(False)
        if current[1] is not None and current[1] not in {f[0] for f in folders}:
            self.tree.setCurrentItem(self._views["all"])  # its folder left: show All
        self._update_remove()

    def scope_title(self, view: str, root_id: int | None) -> str | None:
        """What a listing covers, for "Searching in Errors": None for the whole library."""
        if root_id is not None:
            for n in range(self._folders_header.childCount()):
                item = self._folders_header.child(n)
                if item is not None and item.data(0, ROOT_ROLE) == root_id:
                    return f"“{item.text(0)}”"
            return "this folder"
        return None if view == "all" else VIEW_TITLES.get(view, view)

    def current_selection(self) -> tuple[str, int | None]:
        item = self.tree.currentItem()
        if item is None or item.data(0, VIEW_ROLE) is None:
            return "all", None
        return item.data(0, VIEW_ROLE), item.data(0, ROOT_ROLE)

    def select_view(self, view: str) -> None:
        if view in self._views:
            self.tree.setCurrentItem(self._views[view])

    # -- internals ----------------------------------------------------------------------
    def _selected(self, item: QTreeWidgetItem | None, _previous: object) -> None:
        self._update_remove()
        if item is None or item.data(0, VIEW_ROLE) is None:
            return
        self.view_selected.emit(item.data(0, VIEW_ROLE), item.data(0, ROOT_ROLE))

    def _update_remove(self) -> None:
        """ "Remove" only while a folder is selected."""
        folder = self.current_selection()[1] is not None
        self.remove_button.setEnabled(folder)
        self.remove_button.setToolTip(
            "Take the selected folder out of the library; its captions are kept"
            if folder
            else "Select a folder below to remove it from the library"
        )

    def _remove(self) -> None:
        item = self.tree.currentItem()
        if item is not None and item.data(0, ROOT_ROLE) is not None:
            self.remove_folder_requested.emit(item.data(0, ROOT_ROLE))
