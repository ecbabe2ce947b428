"""Add or edit one inference server: address, name, the model to request (from the
server's own list), the API key (to the keychain), a self-signed certificate, slots.

"Ask the server" probes it on the background pool to fill the model list; the address
is checked as it is typed, and plain http to another machine is warned about right
under the field, before any photo is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.servers.checks import ProbeResult, ServerChecks, current_checks
from app.core.servers.registry import (
    MAX_SLOTS,
    RegistryError,
    ServerConnection,
    ServerEntry,
    config_for,
    normalise_url,
    warnings,
)
from app.services.background import Background
from app.ui.settings.common import message_label, show_message

SERVER_DEFAULT = "Server default"


@dataclass(frozen=True, slots=True)
class ServerForm:
    """What the user entered; `api_key` None keeps the stored key as it is."""

    url: str
    name: str | None
    model: str | None
    api_key: str | None
    allow_self_signed: bool
    slots: int | None


class ServerDialog(QDialog):
    def __init__(
        self,
        background: Background,
        entry: ServerEntry | None = None,
        checks: Callable[[], ServerChecks] = current_checks,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit server" if entry else "Add a server")
        self._background = background
        self._entry = entry
        self._checks = checks
        self.url_edit = QLineEdit(entry.url if entry else "")
        self.url_edit.setPlaceholderText("http://192.168.1.5:8080")
        self.url_edit.textChanged.connect(self._url_changed)
        self.name_edit = QLineEdit(entry.name if entry else "")
        self.name_edit.setPlaceholderText("the host's name")
        self.model_box = QComboBox()
        self.model_box.setEditable(True)
        self.model_box.addItem(SERVER_DEFAULT)
        if entry and entry.model:
            self.model_box.addItem(entry.model)
            self.model_box.setCurrentText(entry.model)
        self.ask_button = QPushButton("Ask the server")
        self.ask_button.setToolTip("Read the models this server serves")
        self.ask_button.clicked.connect(self.ask_server)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_box, 1)
        model_row.addWidget(self.ask_button)
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText(self._key_placeholder(entry))
        self.self_signed_box = QCheckBox("Accept its self-signed certificate")
        self.self_signed_box.setChecked(bool(entry and entry.allow_self_signed))
        self.slots_spin = QSpinBox()
        self.slots_spin.setRange(0, MAX_SLOTS)
        self.slots_spin.setSpecialValueText("detect")
        self.slots_spin.setValue(entry.slots or 0 if entry else 0)
        self.url_warning = message_label()
        self.message = message_label()

        form = QFormLayout()
        form.addRow("Address", self.url_edit)
        form.addRow("", self.url_warning)
        form.addRow("Name", self.name_edit)
        form.addRow("Model", model_row)
        form.addRow("API key", self.key_edit)
        form.addRow("", self.self_signed_box)
        form.addRow("Photos at once", self.slots_spin)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self._url_changed(self.url_edit.text())

    @staticmethod
    def _key_placeholder(entry: ServerEntry | None) -> str:
        if entry is None or entry.key is None:
            return "none (kept in this computer's keychain when given)"
        return f"kept in the {entry.key_source()}: type a new one to replace it"

    def _url_changed(self, text: str) -> None:
        try:
            url = normalise_url(text) if text.strip() else ""
        except RegistryError:
            show_message(self.url_warning, "")
            return
        said = warnings(ServerEntry("This server", url)) if url else []
        show_message(self.url_warning, " ".join(said), error=bool(said))

    def form(self) -> ServerForm:
        model = self.model_box.currentText().strip()
        return ServerForm(
            url=self.url_edit.text().strip(),
            name=self.name_edit.text().strip() or None,
            model=None if model in ("", SERVER_DEFAULT) else model,
            api_key=self.key_edit.text().strip() or None,
            allow_self_signed=self.self_signed_box.isChecked(),
            slots=self.slots_spin.value() or None,
        )

    def accept(self) -> None:
        try:
            normalise_url(self.url_edit.text())
        except RegistryError as exc:
            show_message(self.message, str(exc), error=True)
            return
        super().accept()

    # -- asking the server for its models ------------------------------------------------
    def ask_server(self) -> None:
        form = self.form()
        try:
            url = normalise_url(form.url)
        except RegistryError as exc:
            show_message(self.message, str(exc), error=True)
            return
        entry, checks = self._entry, self._checks()
        name = form.name or url

        def probe() -> ProbeResult:
            key = form.api_key
            if key is None and entry is not None and entry.key is not None:
                key = config_for(entry).api_key  # the keychain may block: not on the GUI
            connection = ServerConnection(
                url, name, key, form.model, form.allow_self_signed, form.slots
            )
            return checks.probe(connection)

        self.ask_button.setEnabled(False)
        show_message(self.message, "Asking the server…")
        self._background.run(probe, self._probed, self._probe_failed)

    def _probed(self, result: ProbeResult) -> None:
        self.ask_button.setEnabled(True)
        current = self.model_box.currentText()
        self.model_box.clear()
        self.model_box.addItem(SERVER_DEFAULT)
        self.model_box.addItems(result.models)
        self.model_box.setCurrentText(current)
        slots = f", {result.slots} slots" if result.slots else ""
        show_message(self.message, f"{result.kind}: {len(result.models)} models{slots}.")

    def _probe_failed(self, message: str) -> None:
        self.ask_button.setEnabled(True)
        show_message(self.message, message, error=True)
