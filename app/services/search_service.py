"""The window's search: one `Finder` per window (keyword and meaning fused, issue 14),
with its query-embedding process.

The query vectors come from a `QueryEmbedderProcess` (`captionist embed-queries`, a
child process: llama.cpp never loads in the GUI), started when the search box first
gets the focus (or by the first search) and closed with the window. The fusion weights
are settings; they are read on the background pool when the window opens and whenever
Settings changes one of them.
Searches themselves run on the background pool (app.ui.gallery.browser): `finder` is
safe to use from its threads (the embedder takes one query at a time).
"""

from __future__ import annotations

from contextlib import suppress

from PySide6.QtCore import QObject

from app.core.semantic.hybrid import Finder, Fusion, QueryEmbedder, QueryEmbeddingError, fusion_of
from app.core.semantic.query_embedder import QueryEmbedderProcess
from app.core.storage.db import Database
from app.core.storage.embedding_rows import ready_model
from app.services.background import Background
from app.services.changes import Changes

FUSION_SETTINGS = frozenset(
    {"fusion_keyword_weight", "fusion_semantic_weight", "fusion_phrase_weight"}
)


class SearchService(QObject):
    def __init__(
        self,
        db: Database,
        background: Background,
        parent: QObject | None = None,
        *,
        embed_query: QueryEmbedder | None = None,
    ) -> None:
        super().__init__(parent)
        self._db = db
        self._background = background
        self._process: QueryEmbedderProcess | None = None
        if embed_query is None:
            self._process = QueryEmbedderProcess()
            embed_query = self._process
        self.finder = Finder(db, embed_query)
        self._warmed = False
        self.reload_fusion()

    def warm_up(self) -> None:
        """Start the query process and load the vector index before the first search needs
        them (the search box got the focus): their start, ~4 s with even a tiny model,
        and seconds more for a large library, are then not a keystroke's."""
        if self._process is None or self._warmed:
            return
        self._warmed = True
        db, process, finder = self._db, self._process, self.finder

        def start() -> None:
            with db.read() as conn:
                model = ready_model(conn)
            if model is not None:
                with suppress(QueryEmbeddingError):  # the first search says why, tries again
                    process(model, "warm up")
                finder.warm_up()  # and the vector index, read from the library

        self._background.run(start)

    def use(self, finder: Finder) -> None:
        """Search with this finder instead (tests inject one with a test embedder)."""
        finder.fusion = self.finder.fusion
        self.finder = finder

    def reload_fusion(self) -> None:
        db = self._db
        self._background.run(lambda: fusion_of(db), self._set_fusion)

    def _set_fusion(self, fusion: Fusion) -> None:
        self.finder.fusion = fusion  # one attribute: a search running now keeps the old

    def apply_changes(self, changes: Changes) -> None:
        if changes.settings & FUSION_SETTINGS:
            self.reload_fusion()

    def close(self) -> None:
        """Stop the query process (the window closes); safe to call twice."""
        if self._process is not None:
            self._process.close()
