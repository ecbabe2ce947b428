"""Captioning again everything the gallery lists: the "All N in this view with…"
section of "Caption again with…", a confirmation that says what will happen, and the
queueing.

The ids are resolved again off the GUI thread when the user picks a choice (the view
may have changed since it was listed, and a search view is re-run the way the browser
runs it), counted with how many carry the user's own caption, and queued in batches at
PRIORITY_BULK: behind "Caption this", so pointing at a photo still captions it next.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMenu, QMessageBox, QWidget

from app.core.jobs import PRIORITY_BULK, JobQueue
from app.core.listing import count_user_captioned
from app.core.semantic.hybrid import Finder
from app.core.settings import Settings, SettingsValues
from app.core.storage.db import Database
from app.core.text import counted
from app.services.background import Background
from app.services.changes import ChangeHub, Changes
from app.ui.gallery.browser import Listing, listing_ids

Confirm = Callable[[str, str, Callable[[], None]], None]  # question, details, on yes


@dataclass(frozen=True)
class Resolved:
    """What a choice would queue, read off the GUI thread."""

    item_ids: list[int]
    user_captioned: int
    settings: SettingsValues


def chosen_names(
    params: dict[str, Any],
    settings: SettingsValues,
    prompts: dict[str, str],
    models: dict[str, str],
) -> tuple[str, str]:
    """(model, prompt) as the user knows them: the job's own choice, else what the
    settings caption with (as `choose_model` and `job_settings.template` pick them)."""
    prompt_id = params.get("prompt") or settings.prompt_id
    prompt = prompts.get(prompt_id, prompt_id)
    model_id = (params.get("model_override") or {}).get("model")
    if model_id:
        model = models.get(model_id, model_id)
    elif settings.custom_model_path:
        model = f"your own model ({os.path.basename(settings.custom_model_path)})"
    elif settings.active_model:
        model = models.get(settings.active_model, settings.active_model)
    elif models:
        model = next(iter(models.values()))
    else:
        model = "none installed yet (they wait until you download one)"
    return model, prompt


def scope_of(listing: Listing) -> str:
    if listing.similar:
        return f"similar to {listing.similar_name}"
    return f"found by “{listing.text.strip()}”" if listing.searching else "in this view"


def recaption_question(
    count: int, user_captioned: int, listing: Listing, model: str, prompt: str
) -> tuple[str, str]:
    """The confirmation: how many, with what, and that the user's captions stay."""
    question = f"Caption all {counted(count, 'item')} {scope_of(listing)} again?"
    if user_captioned:
        kept = (
            f"{counted(user_captioned, 'item')} of them "
            f"{'has a caption' if user_captioned == 1 else 'have captions'} you wrote: "
            "yours stay as they are, the new caption goes into the history as a suggestion."
        )
    else:
        kept = "Captions you wrote are always kept; none of these items has one."
    details = (
        f"Model: {model}\nPrompt: {prompt}\n\n{kept}\n\n"
        "They wait behind anything you caption with Caption this."
    )
    return question, details


class ListingRecaption(QObject):
    """The "All N … with…" submenu of "Caption again with…" and what it does."""

    failed = Signal(str)

    def __init__(
        self,
        db: Database,
        background: Background,
        hub: ChangeHub,
        message: Callable[[str], None],
        parent: QWidget,
        finder: Callable[[], Finder | None] = lambda: None,
    ) -> None:
        super().__init__(parent)
        self._window = parent
        self._finder = finder  # the window's: a search is re-run as the gallery ran it
        self._db = db
        self._background = background
        self._hub = hub
        self._message = message
        self._listing = Listing()
        self._count = 0
        self._prompts: dict[str, str] = {}
        self._models: dict[str, str] = {}
        self.menu = QMenu(parent)
        self.menu.setObjectName("recaption_listing")
        self.confirm: Confirm = self._ask  # tests replace it
        self.last_box: QMessageBox | None = None
        self._retitle()

    def listed(self, listing: Listing, count: int) -> None:
        """The browser listed a view (its count was made off the GUI thread)."""
        self._listing, self._count = listing, count
        self._retitle()

    def set_choices(self, prompts: dict[str, str], models: dict[str, str]) -> None:
        self._prompts, self._models = dict(prompts), dict(models)
        self.menu.clear()
        for prompt_id, name in self._prompts.items():
            self.menu.addAction(f"Prompt: {name}").triggered.connect(
                lambda _=False, p=prompt_id: self.recaption({"prompt": p})
            )
        if self._models:
            self.menu.addSeparator()
        for model_id, name in self._models.items():
            self.menu.addAction(f"Model: {name}").triggered.connect(
                lambda _=False, m=model_id: self.recaption({"model_override": {"model": m}})
            )
        self._retitle()

    def _retitle(self) -> None:
        self.menu.setTitle(f"All {self._count:,} {scope_of(self._listing)} with…")
        self.menu.setEnabled(self._count > 0 and bool(self._prompts or self._models))

    def recaption(self, params: dict[str, Any]) -> None:
        """Resolve what the gallery lists, then ask; nothing is queued before a yes."""
        db, listing, finder = self._db, self._listing, self._finder()

        def resolve() -> Resolved:
            ids = listing_ids(db, listing, finder)
            return Resolved(ids, count_user_captioned(db, ids), Settings(db).read())

        self._background.run(
            resolve, lambda found: self._resolved(found, listing, params), self.failed.emit
        )

    def _resolved(self, found: Resolved, listing: Listing, params: dict[str, Any]) -> None:
        ids = found.item_ids
        if not ids:
            self._message("Nothing to caption: the view is empty now")
            return
        model, prompt = chosen_names(params, found.settings, self._prompts, self._models)
        question, details = recaption_question(
            len(ids), found.user_captioned, listing, model, prompt
        )
        self.confirm(question, details, lambda: self._queue(ids, params))

    def _queue(self, ids: list[int], params: dict[str, Any]) -> None:
        db = self._db

        def queue() -> list[int]:
            JobQueue(db).enqueue_in_batches(ids, priority=PRIORITY_BULK, params=params)
            return ids

        self._background.run(queue, self._queued, self.failed.emit)
        self._message(f"Queueing {counted(len(ids), 'item')} to caption again…")

    def _queued(self, ids: list[int]) -> None:
        self._hub.publish(Changes.of_items(ids, queue=True))
        self._message(
            f"Queued {counted(len(ids), 'item')} to caption again, "
            "behind anything you caption with Caption this"
        )

    def _ask(self, question: str, details: str, on_yes: Callable[[], None]) -> None:
        """A window-modal question; open(), not exec(): nothing waits on it."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Caption again",
            question,
            QMessageBox.StandardButton.Cancel,
            self._window,
        )
        box.setObjectName("recaption_listing_confirm")
        box.setInformativeText(details)
        yes_role = QMessageBox.ButtonRole.AcceptRole
        box.addButton("Caption again", yes_role)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def answered(_result: int) -> None:
            clicked = box.clickedButton() if shiboken6.isValid(box) else None
            if clicked is not None and box.buttonRole(clicked) == yes_role:
                on_yes()
            box.deleteLater()

        box.finished.connect(answered)
        self.last_box = box
        box.open()
