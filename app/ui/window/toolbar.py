"""The window's toolbar: search, sort, caption toggle and thumbnail zoom."""

from __future__ import annotations

import html
from typing import cast

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QMainWindow,
    QSizePolicy,
    QSlider,
    QToolBar,
    QToolButton,
    QWidget,
)

from app.core.gallery import SORT_TITLES
from app.core.text import plural
from app.ui.gallery.browser import SEARCH_HELP, Listing
from app.ui.gallery.view import DEFAULT_SIDE, MAX_SIDE, MIN_SIDE
from app.ui.theme import tone_style
from app.ui.words import (
    MEANING_LEGEND,
    found_by_meaning,
    search_notice,
    similar_count,
    similar_scope,
)


class MainToolbar(QToolBar):
    search_changed = Signal(str)
    search_cleared = Signal()  # Escape or "Clear" emptied the search field
    similar_left = Signal()  # "Back" from a Find similar listing
    search_focused = Signal()  # the user is about to search
    sort_changed = Signal(str, bool)  # sort key, descending
    zoom_changed = Signal(int)
    captions_toggled = Signal(bool)

    def __init__(self, window: QMainWindow) -> None:
        super().__init__("Main", window)
        self.setObjectName("main_toolbar")
        self.setMovable(False)
        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search captions, tags, file names…  (Ctrl+F)")
        self.search.setToolTip(SEARCH_HELP)
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(320)
        self.search.textChanged.connect(self.search_changed)
        help_button = QToolButton()
        help_button.setText("?")
        help_button.setToolTip(SEARCH_HELP)
        help_button.setObjectName("search_help")
        help_button.clicked.connect(self._show_help)
        self.search.installEventFilter(self)  # Escape clears it
        self.count = QLabel("")
        self.count.setObjectName("count")
        self.count.setMinimumWidth(120)
        self._count_text = ""
        self._selected = 0
        # "Searching in Errors · Clear": a search stays on when the view changes.
        self.scope = QLabel("")
        self.scope.setObjectName("search_scope")
        self.scope.setTextFormat(Qt.TextFormat.RichText)
        self.scope.setToolTip("The search only looks in this view or folder")
        self.scope.linkActivated.connect(self._scope_link)
        # Why a search is keyword-only ("Words only", "Meaning: getting ready"): a quiet
        # word beside the count, the whole sentence in its tooltip. Never a dialog.
        self.meaning_notice = QLabel("")
        self.meaning_notice.setObjectName("meaning_notice")
        self.meaning_notice.setProperty("tone", "muted")
        self.sort = QComboBox()
        self.sort.setObjectName("sort")
        for key, title in SORT_TITLES.items():
            self.sort.addItem(title, key)
        self.descending = QToolButton()
        self.descending.setCheckable(True)
        self.descending.setChecked(True)
        self.descending.setToolTip("Newest / Z first")
        self.descending.toggled.connect(self._sort_changed)
        self.descending.toggled.connect(self._arrow)
        self._arrow(True)
        self.sort.currentIndexChanged.connect(self._sort_changed)
        self.captions = QCheckBox("Captions")
        self.captions.setObjectName("show_captions")
        self.captions.setChecked(True)
        self.captions.setToolTip("Show captions under the thumbnails (else file names)")
        self.captions.toggled.connect(self.captions_toggled)
        self.zoom = QSlider(Qt.Orientation.Horizontal)
        self.zoom.setObjectName("zoom")
        self.zoom.setRange(MIN_SIDE, MAX_SIDE)
        self.zoom.setValue(DEFAULT_SIDE)
        self.zoom.setFixedWidth(140)
        self.zoom.setToolTip("Thumbnail size")
        self.zoom.valueChanged.connect(self.zoom_changed)

        self.addWidget(self.search)
        self.addWidget(help_button)
        self.addWidget(_spacer(12))
        self.addWidget(self.count)
        self.addWidget(_spacer(8))
        self._scope_action = self.addWidget(self.scope)
        self._scope_action.setVisible(False)
        self._notice_spacer = self.addWidget(_spacer(8))
        self._notice_action = self.addWidget(self.meaning_notice)
        self._notice_action.setVisible(False)
        self._notice_spacer.setVisible(False)
        stretch = QWidget()
        stretch.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.addWidget(stretch)
        self.addWidget(QLabel("Sort "))
        self.addWidget(self.sort)
        self.addWidget(self.descending)
        self.addWidget(_spacer(12))
        self.addWidget(self.captions)
        self.addWidget(_spacer(12))
        self.addWidget(QLabel("Size "))
        self.addWidget(self.zoom)

    def show_count(
        self, listing: Listing, count: int, scope: str | None = None, by_meaning: int = 0
    ) -> None:
        """How many items are listed; while searching a view or folder, where; for Find
        similar, similar to what, and the way back."""
        if listing.similar:
            self._count_text = similar_count(count)
            back = f" in {html.escape(scope)}" if scope is not None else ""
            self.scope.setText(
                f"{html.escape(similar_scope(listing.similar_name))}{back} · "
                "<a href='back'>Back</a>"
            )
            self.scope.setToolTip("Items whose captions mean nearly the same (Esc: back)")
            self._show_count()
            self._scope_action.setVisible(True)
            return
        noun = plural(count, "match", "matches") if listing.searching else plural(count, "item")
        self._count_text = f"{count:,} {noun}"
        if listing.searching and by_meaning:
            self._count_text += f" · {found_by_meaning(by_meaning)}"
        self.count.setToolTip(MEANING_LEGEND if listing.searching and by_meaning else "")
        self._show_count()
        searching_in = listing.searching and scope is not None
        if searching_in:
            self.scope.setText(f"Searching in {scope} · <a href='clear'>Clear</a>")
            self.scope.setToolTip("The search only looks in this view or folder")
        self._scope_action.setVisible(searching_in)

    def show_notice(self, notice: str) -> None:
        """Why the search is by words only (Found.notice); "" hides it."""
        text, tip, tone = search_notice(notice)
        self.meaning_notice.setText(text)
        self.meaning_notice.setToolTip(tip)
        self.meaning_notice.setStyleSheet(
            "color: palette(placeholder-text);" if tone == "muted" else tone_style("warn")
        )
        self._notice_action.setVisible(bool(text))
        self._notice_spacer.setVisible(bool(text))

    def _scope_link(self, link: str) -> None:
        if link == "back":
            self.similar_left.emit()
        else:
            self.clear_search()

    def show_selected(self, selected: int) -> None:
        """ "14 items · 3 selected" (one selected item is just the current one)."""
        self._selected = selected
        self._show_count()

    def _show_count(self) -> None:
        extra = f" · {self._selected:,} selected" if self._selected > 1 else ""
        self.count.setText(self._count_text + extra)

    def clear_search(self) -> None:
        if self.search.text():
            self.search.clear()
        self.search_cleared.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.search and event.type() == QEvent.Type.FocusIn:
            self.search_focused.emit()
        if (
            watched is self.search
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Escape
            and self.search.text()
        ):
            self.clear_search()
            return True
        return super().eventFilter(watched, event)

    def _sort_changed(self, *_args: object) -> None:
        self.sort_changed.emit(self.sort.currentData(), self.descending.isChecked())

    def _arrow(self, descending: bool) -> None:
        self.descending.setText("↓" if descending else "↑")

    def _show_help(self) -> None:
        from PySide6.QtWidgets import QToolTip

        QToolTip.showText(self.search.mapToGlobal(self.search.rect().bottomLeft()), SEARCH_HELP)

    # -- remembered between runs ----------------------------------------------------------
    def restore(self, settings: QSettings) -> None:
        zoom = settings.value("gallery/zoom", DEFAULT_SIDE)  # an int, or its text from the file
        self.zoom.setValue(int(cast(int | str, zoom)))
        self.captions.setChecked(settings.value("gallery/captions", "true") in (True, "true"))
        index = self.sort.findData(settings.value("gallery/sort", "taken"))
        self.sort.setCurrentIndex(max(index, 0))
        self.descending.setChecked(settings.value("gallery/descending", "true") in (True, "true"))

    def save(self, settings: QSettings) -> None:
        settings.setValue("gallery/zoom", self.zoom.value())
        settings.setValue("gallery/captions", self.captions.isChecked())
        settings.setValue("gallery/sort", self.sort.currentData())
        settings.setValue("gallery/descending", self.descending.isChecked())


def _spacer(width: int) -> QWidget:
    spacer = QWidget()
    spacer.setFixedWidth(width)
    return spacer
