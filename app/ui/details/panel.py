"""The inspector on the right of the gallery: one item, everything about it.

Everything is read on the background pool and every edit is an undoable command
(app.ui.details.caption_commands) whose write also runs there, so the GUI thread never
waits for the database or a decoder. Each read carries a serial number: when the
user has clicked another item meanwhile, the late answer is dropped.

The window embeds the panel, calls `show_item` on selection (and on a search hit
inside a video, with the moment's time), and may listen to `moment_activated` and
`message_posted` (status bar text).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QFont, QImage, QTextCursor, QUndoStack
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.item_details import ItemDetails
from app.core.storage.db import Database
from app.services.background import Background
from app.ui.details.caption_commands import (
    AcceptCommand,
    CaptionEdits,
    EditCaptionCommand,
    RestoreVersionCommand,
)
from app.ui.details.caption_editor import CaptionEditor
from app.ui.details.loading import (
    LoadedItem,
    default_cache_dir,
    load_item,
    load_preview,
    load_thumbnails,
)
from app.ui.details.moment_strip import MomentStrip
from app.ui.details.tag_chips import TagChips
from app.ui.details.text import exif_rows, item_problem, meta_text, provenance_text
from app.ui.details.video_player import Playback, play_video
from app.ui.details.widgets import (
    PREVIEW_SHARE,
    ExifForm,
    HistoryList,
    Notice,
    Preview,
    heading,
    muted,
    wrapped,
)

Player = Callable[[str, float, QWidget], Playback]
EMPTY_TEXT = "Select a photo or video"
GONE_TEXT = "This item is no longer in the library."


class DetailsPanel(QWidget):
    moment_activated = Signal(int, float)  # item id, seconds into the video
    message_posted = Signal(str)  # for the status bar: how a video was opened, failures
    retry_requested = Signal(int)  # item id: the notice's Retry (the window re-queues it)

    def __init__(
        self,
        db: Database,
        background: Background,
        edits: CaptionEdits,
        undo_stack: QUndoStack,
        parent: QWidget | None = None,
        *,
        cache_dir: Path | None = None,
        player: Player = play_video,
    ) -> None:
        super().__init__(parent)
        self._db = db
        self._background = background
        self._edits = edits
        self._undo_stack = undo_stack
        self._cache_dir = cache_dir
        self._player = player
        self._item_id: int | None = None
        self._loaded: LoadedItem | None = None
        self._serial = 0  # of the newest item read; older answers are stale
        self._preview_key: tuple[int, int, str] | None = None
        self._moment: float | None = None
        self._moments_token = object()
        self.stale_dropped = 0  # item reads thrown away: another item was asked for since
        self.playback: Playback | None = None  # the last moment played (for the window)
        self._build()
        edits.items_changed.connect(self._items_changed)
        edits.failed.connect(self.editor.show_hint)

    # -- public ----------------------------------------------------------------------
    def item_id(self) -> int | None:
        return self._item_id

    def details(self) -> ItemDetails | None:
        """What is shown (None while nothing, or before the first answer)."""
        return self._loaded.details if self._loaded else None

    def show_item(self, item_id: int | None, moment: float | None = None) -> None:
        """Show an item (None: the empty state); `moment` highlights a video's moment."""
        if item_id != self._item_id:
            self._loaded = None
            self.editor.show_hint(None)
            self._set_editable(False)  # the old item's words must not be saved to this one
        self._item_id, self._moment = item_id, moment
        self._serial += 1
        if item_id is None:
            self._show_message(EMPTY_TEXT)
            return
        self._read(item_id)

    def focus_caption(self) -> None:
        """Put the cursor at the end of the caption (the Item menu's "Edit caption")."""
        self.editor.editor.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.editor.editor.moveCursor(QTextCursor.MoveOperation.End)
        self.editor.editor.ensureCursorVisible()
        self.scroll_area.ensureWidgetVisible(self.editor.editor)

    def shutdown(self) -> None:
        """Close a player this panel opened (the window is closing)."""
        dialog = self.playback.dialog if self.playback else None
        if dialog is not None and shiboken6.isValid(dialog):
            dialog.close()

    def refresh(self) -> None:
        """Re-read the shown item, keeping unsaved typing and the highlighted moment."""
        if self._item_id is not None:
            self._serial += 1
            self._read(self._item_id)

    # -- building --------------------------------------------------------------------
    def _build(self) -> None:
        self.empty_label = muted(QLabel(EMPTY_TEXT))
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.preview = Preview()
        self.title = wrapped(selectable=True)
        title_font = QFont(self.title.font())
        title_font.setBold(True)
        title_font.setPointSizeF(title_font.pointSizeF() * 1.25)
        self.title.setFont(title_font)
        self.meta = muted(wrapped())
        self.folder = muted(wrapped(selectable=True))
        self.notice = Notice()
        self.notice.retry_requested.connect(self._retry_clicked)
        self.editor = CaptionEditor()
        self.editor.save_requested.connect(self._save)
        self.editor.accept_requested.connect(self._accept)
        self.chips = TagChips()
        self.chips.tag_added.connect(lambda tag: self._tags_edited(f"Add tag “{tag}” to"))
        self.chips.tag_removed.connect(lambda tag: self._tags_edited(f"Remove tag “{tag}” from"))
        self.moments_heading = heading("Moments")
        self.moments = MomentStrip()
        self.moments.moment_clicked.connect(self._moment_clicked)
        self.play_note = muted(wrapped())
        self.play_note.hide()
        self.history = HistoryList()
        self.history.restore_requested.connect(self._restore)
        self.exif_heading = heading("Info")
        self.exif = ExifForm()

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(14, 14, 14, 18)
        layout.setSpacing(6)
        widget: QWidget
        for widget in (self.preview, self.title, self.meta, self.folder, self.notice):
            layout.addWidget(widget)
        layout.addWidget(heading("Caption"))
        layout.addWidget(self.editor)
        layout.addWidget(heading("Tags"))
        layout.addWidget(self.chips)
        for widget in (self.moments_heading, self.moments, self.play_note):
            layout.addWidget(widget)
        layout.addWidget(heading("History"))
        layout.addWidget(self.history)
        layout.addWidget(self.exif_heading)
        layout.addWidget(self.exif)
        layout.addStretch(1)
        self.scroll_area = QScrollArea()
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Always on: the preview's height follows the width, so a scroll bar that comes
        # and goes changes the width, which changes the height, which... at some panel
        # widths that loop recursed until the stack overflowed (a segfault in layout).
        self.scroll_area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.scroll_area.setWidget(content)
        self.scroll_area.viewport().installEventFilter(self)  # its height caps the preview
        self.pages = QStackedWidget()
        self.pages.addWidget(self.empty_label)
        self.pages.addWidget(self.scroll_area)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.pages)
        self.setMinimumWidth(260)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self.scroll_area.viewport() and event.type() == QEvent.Type.Resize:
            self.preview.set_height_cap(int(self.scroll_area.viewport().height() * PREVIEW_SHARE))
        return False

    def showing_empty(self) -> bool:
        return self.pages.currentWidget() is self.empty_label

    # -- reading ---------------------------------------------------------------------
    def _read(self, item_id: int) -> None:
        serial, db = self._serial, self._db
        self._background.run(
            lambda: load_item(db, item_id),
            lambda loaded: self._on_loaded(serial, loaded),
            lambda reason: self._on_load_failed(serial, reason),
        )

    def _current(self, serial: int) -> bool:
        if serial != self._serial:
            self.stale_dropped += 1
            return False
        return True

    def _on_load_failed(self, serial: int, reason: str) -> None:
        if self._current(serial):
            self._show_message(f"Couldn't read this item from the library: {reason}")

    def _on_loaded(self, serial: int, loaded: LoadedItem | None) -> None:
        if not self._current(serial):
            return
        if loaded is None:
            self._show_message(GONE_TEXT)
            return
        same_item = self._loaded is not None and self._loaded.details.id == loaded.details.id
        self._loaded = loaded
        details = loaded.details
        self.pages.setCurrentWidget(self.scroll_area)
        if not same_item:
            self.scroll_area.verticalScrollBar().setValue(0)
            self.play_note.hide()
        self.title.setText(details.name)
        self.meta.setText(meta_text(details))
        self.folder.setText(details.folder or os.path.dirname(details.path))
        self.folder.setToolTip(details.path)
        problem = item_problem(details, loaded.job_error)
        if problem is None:
            self.notice.show_text(None)
        else:
            self.notice.show_text(problem.sentence, problem.detail, retry=problem.retry)
        self._show_caption(details, keep_typing=same_item)
        self._show_moments(details, same_item)
        self.exif.set_rows(exif_rows(details.exif))
        self.exif_heading.setVisible(bool(details.exif))
        self._load_preview(details)
        self._set_editable(True)

    def _show_caption(self, details: ItemDetails, *, keep_typing: bool) -> None:
        current = details.current
        if current is None:
            self.editor.provenance.setText("No caption yet")
        else:
            review = "  ·  needs review" if details.needs_review else ""
            self.editor.provenance.setText(provenance_text(current) + review)
        self.editor.load(current.text if current else "", keep_typing=keep_typing)
        self.editor.set_accept_visible(details.needs_review)
        # A write still queued will re-read the item when it lands: until then the
        # chips keep the user's latest change rather than flicker back.
        # With no caption yet, tags wait in the chips to be saved with the caption.
        waiting = self._edits.pending() > 0 or current is None
        if not (keep_typing and waiting):
            self.chips.set_tags(current.tags if current else ())
        self.history.set_versions(details.history, current.id if current else None)

    def _show_moments(self, details: ItemDetails, same_item: bool) -> None:
        has_moments = details.kind == "video" and bool(details.moments)
        self.moments_heading.setVisible(has_moments)
        self.moments.setVisible(has_moments)
        old = [tile.moment for tile in self.moments.tiles()]
        if list(details.moments) != old or not same_item:
            self.moments.set_moments(details.moments if has_moments else ())
            if has_moments:
                token = self._moments_token = object()
                paths = [m.thumbnail for m in details.moments]
                self._background.run(
                    lambda: load_thumbnails(paths),
                    lambda images: self._thumbnails_loaded(token, images),
                )
        if not same_item or self._moment is not None:
            self.moments.select_nearest(self._moment)

    def _thumbnails_loaded(self, token: object, images: list[QImage | None]) -> None:
        if token is self._moments_token:  # else the strip was rebuilt meanwhile
            self.moments.set_images(images)

    def _load_preview(self, details: ItemDetails) -> None:
        key = (details.id, details.mtime_ns, details.path)
        if key == self._preview_key:
            return
        self._preview_key = key
        self.preview.set_image(None, "Loading preview…")
        cache, db = self._cache_dir, self._db
        self._background.run(
            lambda: load_preview(details, cache or default_cache_dir(db)),
            lambda image: self._preview_loaded(key, image),
            lambda reason: self._preview_loaded(key, None, reason),
        )

    def _preview_loaded(
        self, key: tuple[int, int, str], image: QImage | None, why: str = ""
    ) -> None:
        if key != self._preview_key:  # another item (or a changed file) was asked for
            return
        self.preview.set_image(image, f"No preview: {why}" if image is None else "")

    def _show_message(self, text: str) -> None:
        self._loaded = None
        self._preview_key = None
        self.empty_label.setText(text)
        self.pages.setCurrentWidget(self.empty_label)

    def _set_editable(self, editable: bool) -> None:
        """While another item loads, typing goes nowhere (the actions also check that
        the item they act on is the one shown); nothing is hidden, so nothing jumps."""
        self.editor.set_editable(editable)
        self.chips.set_editable(editable)

    def _items_changed(self, ids: list[int]) -> None:
        if self._item_id is not None and self._item_id in ids:
            self.refresh()

    # -- edits -----------------------------------------------------------------------
    def _over_model(self, details: ItemDetails) -> bool:
        return details.current is not None and not details.current.by_user

    def _save(self, text: str) -> None:
        details = self.details()
        if details is None:
            return
        self._undo_stack.push(
            EditCaptionCommand(
                self._edits,
                details.id,
                text,
                self.chips.tags(),
                name=details.name,
                replaces_model=self._over_model(details),
            )
        )

    def _tags_edited(self, label: str) -> None:
        """Tags are saved as soon as they change, with the stored words (never the
        unsaved typing, which stays in the box). An item with no caption yet keeps
        its tags until the caption is saved with them."""
        details = self.details()
        if details is None:
            return
        if details.current is None:
            self.editor.show_hint("Tags are saved with the caption: write one, then Save.")
            return
        self._undo_stack.push(
            EditCaptionCommand(
                self._edits,
                details.id,
                self.editor.saved_text(),
                self.chips.tags(),
                name=details.name,
                label=f"{label} {details.name}",
                replaces_model=self._over_model(details),
            )
        )

    def _accept(self) -> None:
        details = self.details()
        if details is not None:
            self._undo_stack.push(AcceptCommand(self._edits, [details.id], name=details.name))

    def _restore(self, caption_id: int) -> None:
        details = self.details()
        if details is not None:
            self._undo_stack.push(
                RestoreVersionCommand(self._edits, details.id, caption_id, name=details.name)
            )

    def _retry_clicked(self) -> None:
        details = self.details()
        if details is not None:
            self.notice.retry_button.setEnabled(False)  # until the item is read again
            self.retry_requested.emit(details.id)

    def _moment_clicked(self, seconds: float) -> None:
        details = self.details()
        if details is None:
            return
        self._moment = seconds
        self.moment_activated.emit(details.id, seconds)
        self.playback = self._player(details.path, seconds, self)
        self.play_note.setText(self.playback.note)
        self.play_note.setVisible(self.playback.how != "player")
        self.moments.setToolTip(self.playback.note)
        self.message_posted.emit(self.playback.note)
