"""Settings → Models → "Inference servers": who captions (this computer, servers, both),
the user's servers with a status light each, add/edit/remove/enable/test, and in plain
words where photos go.

Every registry read and write runs on the settings lane (`SettingsStore.run`: database
and keychain calls never on the GUI thread, and in click order); a test (probe plus one
real caption of a sample picture) runs on the background pool. The lights are this
screen's memory of the last test: "not tested" until one ran.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.servers.checks import (
    OK,
    CheckReport,
    ServerChecks,
    check_server,
    current_checks,
    sample_jpeg,
)
from app.core.servers.registry import (
    BOTH,
    LOCAL,
    SERVERS,
    ServerEntry,
    ServerRegistry,
    entries_from,
    privacy_statement,
    warnings,
)
from app.core.settings import Settings, SettingsValues
from app.services.background import Background
from app.ui.settings.common import SettingsStore, message_label, note_label, show_message
from app.ui.settings.server_dialog import ServerDialog, ServerForm
from app.ui.theme import tone, tone_style

MODE_CHOICES = ((LOCAL, "This computer"), (SERVERS, "Inference servers"), (BOTH, "Both"))
COLUMNS = ("Name", "Address", "Model", "Status")
STATUS_COLUMN = 3
KEYS = {"inference_servers"}


class ServersSection(QGroupBox):
    servers_shown = Signal()  # the list was (re)filled; tests wait on it
    tested = Signal(str)  # a server's test ended (its name)

    def __init__(
        self,
        store: SettingsStore,
        background: Background,
        checks: Callable[[], ServerChecks] = current_checks,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Inference servers", parent)
        self._store = store
        self._background = background
        self._checks = checks
        self._entries: list[ServerEntry] = []
        self._mode = LOCAL
        self._reports: dict[str, CheckReport] = {}
        self._testing: set[str] = set()
        self.dialog: ServerDialog | None = None
        self.confirm: Callable[[str], bool] = self._ask  # replaced in tests
        self._build()
        self.reload()

    # -- layout ------------------------------------------------------------------------
    def _build(self) -> None:
        self.mode_box = QComboBox()
        for mode, text in MODE_CHOICES:
            self.mode_box.addItem(text, mode)
        self.mode_box.setEnabled(False)  # until the settings are read
        self.mode_box.activated.connect(self._mode_chosen)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("servers")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(STATUS_COLUMN, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(120)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda _item: self.edit_selected())

        self.add_button = QPushButton("Add…")
        self.add_button.clicked.connect(self.add_server)
        self.edit_button = QPushButton("Edit…")
        self.edit_button.clicked.connect(self.edit_selected)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.clicked.connect(self.remove_selected)
        self.enable_button = QPushButton("Disable")
        self.enable_button.clicked.connect(self.toggle_selected)
        self.test_button = QPushButton("Test")
        self.test_button.setToolTip("Check it answers and caption one sample picture")
        self.test_button.clicked.connect(self.test_selected)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.edit_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.enable_button)
        buttons.addWidget(self.test_button)

        self.privacy_label = QLabel()
        self.privacy_label.setWordWrap(True)
        self.privacy_label.setObjectName("privacy")
        self.warning_label = message_label()
        self.message = message_label()
        mode_row = QFormLayout()
        mode_row.addRow("Caption on", self.mode_box)
        layout = QVBoxLayout(self)
        layout.addLayout(mode_row)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.privacy_label)
        layout.addWidget(self.warning_label)
        layout.addWidget(self.message)
        layout.addWidget(
            note_label(
                "llama-server, vLLM, Ollama or any OpenAI-compatible server with a vision "
                "model. API keys are kept in this computer's keychain, never in the library."
            )
        )
        self._update_buttons()

    # -- reading -------------------------------------------------------------------------
    def reload(self) -> None:
        self._store.load(self._loaded)

    def _loaded(self, values: SettingsValues, _extra: object) -> None:
        self._entries = entries_from(values.inference_servers)
        mode = values.caption_backends
        self._mode = mode if mode in (LOCAL, SERVERS, BOTH) else LOCAL
        self.mode_box.setCurrentIndex(max(0, self.mode_box.findData(self._mode)))
        self.mode_box.setEnabled(True)
        self._show()

    def _show(self) -> None:
        selected = self.selected_name()
        self.table.setRowCount(len(self._entries))
        for row, entry in enumerate(self._entries):
            cells = (entry.name, entry.url, entry.model or "server default", "")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, entry.name)
                self.table.setItem(row, column, item)
            name_item = self.table.item(row, 0)
            assert name_item is not None
            name_item.setToolTip("\n".join([f"API key: {entry.key_source()}", *warnings(entry)]))
            self._show_status(row, entry)
        if selected:
            self.select(selected)
        self.privacy_label.setText(privacy_statement(self._entries, self._mode))
        said = [w for e in self._entries if e.enabled for w in warnings(e)]
        show_message(self.warning_label, " ".join(said), error=bool(said))
        self.warning_label.setStyleSheet(tone_style("warn"))
        self._update_buttons()
        self.servers_shown.emit()

    def _show_status(self, row: int, entry: ServerEntry) -> None:
        item = self.table.item(row, STATUS_COLUMN)
        assert item is not None  # _show fills every cell
        item.setText(self.status_text(entry))
        report = self._reports.get(entry.name)
        if report is not None and entry.name not in self._testing and entry.enabled:
            item.setForeground(tone("ok" if report.status == OK else "error"))
            item.setToolTip(report.summary())

    def status_text(self, entry: ServerEntry) -> str:
        """The status light and its words: ○ off, ● not tested / ok / unhealthy."""
        if not entry.enabled:
            return "○ disabled"
        if entry.name in self._testing:
            return "● testing…"
        report = self._reports.get(entry.name)
        if report is None:
            return "● not tested"
        if report.status == OK:
            return f"● ok · {report.summary()}"
        return f"● unhealthy: {report.error}"

    def status_of(self, name: str) -> str:
        row = self._row(name)
        item = self.table.item(row, STATUS_COLUMN) if row is not None else None
        return item.text() if item is not None else ""

    def names(self) -> list[str]:
        return [e.name for e in self._entries]

    def selected_name(self) -> str | None:
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def select(self, name: str) -> None:
        row = self._row(name)
        if row is not None:
            self.table.selectRow(row)

    def _row(self, name: str) -> int | None:
        return next((i for i, e in enumerate(self._entries) if e.name == name), None)

    def _selected(self) -> ServerEntry | None:
        row = self._row(self.selected_name() or "")
        return self._entries[row] if row is not None else None

    def _update_buttons(self) -> None:
        entry = self._selected()
        for button in (self.edit_button, self.remove_button, self.enable_button):
            button.setEnabled(entry is not None)
        self.enable_button.setText("Enable" if entry and not entry.enabled else "Disable")
        self.test_button.setEnabled(entry is not None and entry.name not in self._testing)

    # -- writing -------------------------------------------------------------------------
    def _mode_chosen(self, index: int) -> None:
        mode = self.mode_box.itemData(index)

        def saved() -> None:
            self._mode = mode
            self._show()

        self._store.save({"caption_backends": mode}, saved)

    def _change(self, work: Callable[[ServerRegistry], Any], said: Callable[[Any], str]) -> None:
        """A registry edit on the settings lane; the list is read again after it."""

        def run(settings: Settings) -> Any:
            return work(ServerRegistry(settings))

        def done(result: Any) -> None:
            show_message(self.message, said(result))
            self.reload()

        self._store.run(run, done, lambda text: show_message(self.message, text, error=True), KEYS)

    def add_server(self) -> None:
        self._open_dialog(None)

    def edit_selected(self) -> None:
        entry = self._selected()
        if entry is not None:
            self._open_dialog(entry)

    def _open_dialog(self, entry: ServerEntry | None) -> None:
        dialog = ServerDialog(self._background, entry, self._checks, self)
        self.dialog = dialog
        dialog.accepted.connect(lambda: self._dialog_accepted(entry, dialog.form()))
        dialog.finished.connect(lambda _code: dialog.deleteLater())
        dialog.open()

    def _dialog_accepted(self, entry: ServerEntry | None, form: ServerForm) -> None:
        self.dialog = None
        if entry is None:
            self._change(
                lambda registry: registry.add(
                    form.url,
                    name=form.name,
                    model=form.model,
                    api_key=form.api_key,
                    allow_self_signed=form.allow_self_signed,
                    slots=form.slots,
                ),
                lambda added: f"Added {added.shown()}. Test it to see it answer.",
            )
            return
        old = entry.name
        self._reports.pop(old, None)  # a changed server is not tested yet
        changes: dict[str, Any] = {
            "url": form.url,
            "model": form.model,
            "allow_self_signed": form.allow_self_signed,
            "slots": form.slots,
        }
        if form.name:
            changes["name"] = form.name
        self._change(
            lambda registry: registry.update(old, api_key=form.api_key, **changes),
            lambda updated: f"Saved {updated.shown()}.",
        )

    def remove_selected(self) -> None:
        entry = self._selected()
        if entry is None:
            return
        question = f"Remove {entry.shown()}? Photos will no longer be sent to it."
        if not self.confirm(question):
            return
        self._reports.pop(entry.name, None)
        self._change(
            lambda registry: registry.remove(entry.name),
            lambda removed: f"Removed {removed.name}.",
        )

    def toggle_selected(self) -> None:
        entry = self._selected()
        if entry is None:
            return
        enabled = not entry.enabled
        self._change(
            lambda registry: registry.set_enabled(entry.name, enabled),
            lambda e: f"{e.name} {'enabled' if e.enabled else 'disabled'}.",
        )

    def test_selected(self) -> None:
        entry = self._selected()
        if entry is None or entry.name in self._testing:
            return
        checks = self._checks()
        self._testing.add(entry.name)
        self._show()
        self._background.run(
            lambda: check_server(entry, sample_jpeg(), checks),
            lambda report: self._tested(entry.name, report),
            lambda text: self._tested(entry.name, CheckReport(entry.name, "unhealthy", error=text)),
        )

    def _tested(self, name: str, report: CheckReport) -> None:
        self._testing.discard(name)
        self._reports[name] = report
        if report.status == OK:
            text = f"{name} answers: “{report.caption}” in {report.seconds or 0:.1f} s per photo."
            show_message(self.message, text)
        else:
            show_message(self.message, report.error or "", error=True)
        self._show()
        self.tested.emit(name)

    def _ask(self, question: str) -> bool:
        answer = QMessageBox.question(self, "Remove server", question)
        return answer == QMessageBox.StandardButton.Yes
