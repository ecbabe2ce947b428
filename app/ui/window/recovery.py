"""A damaged library, said in the window before it opens (issue 12): restore the newest
good backup, rebuild the library from its folders (the user's own captions come back
from the XMP the app wrote), or quit. The work is app.core.library.recovery's; this is
the thin layer that asks, runs it off the GUI thread and says what happened."""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import APP_NAME
from app.core.library.recovery import Recovery, rebuild, restore_newest
from app.core.storage import backups
from app.services.background import Background
from app.ui.words import counted


class RecoveryDialog(QDialog):
    """Accepted once the library is usable again; rejected on Quit."""

    def __init__(self, database: Path, damage: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.database = database
        self.recovery: Recovery | None = None
        self.setWindowTitle(f"{APP_NAME}: the library is damaged")
        self._background = Background(self, threads=1)
        self._good = backups.newest_good_backup(database)
        self._folders = backups.recorded_roots(database)
        text = QLabel(
            f"<p>The library <b>{escape(str(database))}</b> is damaged "
            f"({escape(damage)}). Nothing more is written into it; it is kept aside.</p>"
            + (
                f"<p><b>Restore</b> brings back the library as it was on "
                f"{escape(self._good.label)} (later changes are lost).</p>"
                if self._good
                else "<p>There is no good backup to restore.</p>"
            )
            + (
                f"<p><b>Rebuild</b> makes a new library from its "
                f"{counted(len(self._folders), 'folder')}: your own captions come back "
                "from the metadata Captionist wrote into the files; the model captions "
                "the others again.</p>"
                if self._folders
                else "<p>Its folders are not known any more: to rebuild, run "
                "<code>captionist repair --rebuild FOLDER...</code>.</p>"
            )
        )
        text.setWordWrap(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.restore_button = QPushButton("Restore backup")
        self.restore_button.setEnabled(self._good is not None)
        self.rebuild_button = QPushButton("Rebuild from folders")
        self.rebuild_button.setEnabled(bool(self._folders))
        self.quit_button = QPushButton("Quit")
        self.restore_button.clicked.connect(self._restore)
        self.rebuild_button.clicked.connect(self._rebuild)
        self.quit_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.restore_button)
        buttons.addWidget(self.rebuild_button)
        buttons.addStretch(1)
        buttons.addWidget(self.quit_button)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        (self.restore_button if self._good else self.rebuild_button).setDefault(True)

    def _busy(self, doing: str) -> None:
        for button in (self.restore_button, self.rebuild_button, self.quit_button):
            button.setEnabled(False)
        self.progress.show()
        self.status.setText(doing)

    def _restore(self) -> None:
        self._busy("Restoring the backup…")
        self._background.run(
            lambda: restore_newest(self.database), on_done=self._done, on_error=self._failed
        )

    def _rebuild(self) -> None:
        self._busy("Rebuilding the library from its folders…")
        self._background.run(
            lambda: rebuild(self.database), on_done=self._done, on_error=self._failed
        )

    def _done(self, recovery: Recovery) -> None:
        self.recovery = recovery
        self.accept()

    def _failed(self, message: str) -> None:
        self.progress.hide()
        self.status.setText(f"That did not work: {message}")
        self.quit_button.setEnabled(True)
        self.restore_button.setEnabled(self._good is not None)
        self.rebuild_button.setEnabled(bool(self._folders))

    def done(self, result: int) -> None:
        self._background.wait(60_000)
        super().done(result)


def recover_if_damaged(database: Path, seen: str | None = None) -> bool:
    """Before the window: True if the library is sound (or was recovered just now),
    False if the user chose to quit. `seen`: damage the window met while it was open,
    which the quick check at open may not reach (it skips some of what "malformed"
    answers to); the user is asked then too."""
    found = backups.damage(database) or seen
    if found is None:
        return True
    dialog = RecoveryDialog(database, found)
    return dialog.exec() == QDialog.DialogCode.Accepted
