"""The ready model's vectors, searchable in milliseconds.

The library holds every vector (one file to back up); this keeps only their sign bits
in memory, in a faiss binary index (an exact Hamming scan: 4 ms over a million
256-bit codes, 12 ms over 768-bit ones on one core, tests/benchmarks/bench_hybrid.py),
and brings itself up to date before each search by reading the vectors written since
it last looked (`seq`). The best candidates by Hamming distance are then re-ranked by
the cosine of their float16 vectors, read from the library together with the search
filters, so a vector deleted since it was loaded (its caption or item gone) simply
does not come back from that read.

Why faiss and not sqlite-vec: Python's sqlite3 can load extensions only where the
interpreter was built to allow it (pyenv's and some macOS builds are not), and the
library is opened through it; an in-memory scan also measured faster (bench_hybrid).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache
from types import ModuleType

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from app.core.storage import embedding_rows as rows


@cache
def _faiss() -> ModuleType:
    """faiss, imported on the first search by meaning (0.3 s: not at window start-up)."""
    import faiss

    # One thread: a search is one query, which faiss would split over OpenMP threads that
    # spin while they wait — 60 ms instead of 0.5 ms over 50,000 codes on a 2-core
    # machine with anything else running (measured); one core scans a million codes in
    # ~5-12 ms.
    faiss.omp_set_num_threads(1)
    return faiss


# Deleted rows stay in the index as dead entries (they are never returned: the
# re-ranking read drops them); past this share the index is rebuilt.
DEAD_SHARE_TO_REBUILD = 0.25


def _faiss_id(row_key: int) -> int:
    """faiss ids must be >= 0 (-1 means "no result"): items even, moments odd."""
    return row_key * 2 if row_key > 0 else -row_key * 2 + 1


def _row_key(faiss_id: int) -> int:
    return faiss_id // 2 if faiss_id % 2 == 0 else -(faiss_id // 2)


class VectorIndex:
    """Sign bits of one model's vectors; thread-safe."""

    def __init__(self, model: rows.StoredModel) -> None:
        self.model = model
        self._bits = model.dimension
        faiss = _faiss()
        self._index = faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(self._code_bits()))
        self._seq = 0
        self._lock = threading.Lock()

    def _code_bits(self) -> int:
        return (self._bits + 7) // 8 * 8  # packbits pads to whole bytes

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    def refresh(self, conn: Connection) -> None:
        """Load the vectors written since the last refresh (all of them the first time)."""
        with self._lock:
            fresh = rows.codes_since(conn, self.model.id, self._seq)
            if not fresh:
                return
            ids = np.fromiter((_faiss_id(key) for key, _, _ in fresh), np.int64, len(fresh))
            if self._seq:  # rewritten rows: drop their old codes first
                self._index.remove_ids(_faiss().IDSelectorBatch(ids))
            codes = np.frombuffer(b"".join(code for _, code, _ in fresh), np.uint8)
            self._index.add_with_ids(codes.reshape(len(fresh), -1), ids)
            self._seq = fresh[-1][2]

    def rebuild_if_stale(self, conn: Connection) -> None:
        """Start over when many loaded vectors were deleted since (cheap to check)."""
        live = rows.vector_count(conn, self.model.id)
        if self.size and live < self.size * (1 - DEAD_SHARE_TO_REBUILD):
            with self._lock:
                self._index.reset()
                self._seq = 0
            self.refresh(conn)

    def nearest(
        self, query: npt.NDArray[np.float32], count: int, among: Sequence[int] | None = None
    ) -> list[int]:
        """Row keys of the `count` codes nearest to the query's, nearest first; only
        rows in `among`, if given (faiss skips the others as it scans)."""
        code = np.packbits(query > 0)[None, :]
        params = None
        if among is not None:
            ids = np.fromiter((_faiss_id(key) for key in among), np.int64, len(among))
            # `selector` stays referenced here until the search is done: SWIG's params
            # do not keep the Python object alive.
            selector = _faiss().IDSelectorBatch(ids)
            params = _faiss().SearchParameters()
            params.sel = selector
            count = min(count, len(among))
        with self._lock:
            count = min(count, self.size)
            if count <= 0:
                return []
            _, found = self._index.search(code, count, params=params)
        return [_row_key(int(i)) for i in found[0] if i >= 0]


class IndexCache:
    """One VectorIndex per database, for the model searches use; replaced when the
    ready model changes (a new model finished filling)."""

    def __init__(self) -> None:
        self._index: VectorIndex | None = None
        self._lock = threading.Lock()
        self._refreshes = 0

    def current(self, conn: Connection, model: rows.StoredModel) -> VectorIndex:
        with self._lock:
            if self._index is None or self._index.model.id != model.id:
                self._index = VectorIndex(model)
            index = self._index
            self._refreshes += 1
            check_dead = self._refreshes % 200 == 0
        index.refresh(conn)
        if check_dead:
            index.rebuild_if_stale(conn)
        return index


def cosine_order(
    query: npt.NDArray[np.float32], found: Sequence[tuple[int, int, bytes]]
) -> list[tuple[int, int, float]]:
    """(row key, item id, cosine) of the candidates, most similar first."""
    if not found:
        return []
    matrix = np.frombuffer(b"".join(v for _, _, v in found), "<f2").reshape(len(found), -1)
    scores = matrix.astype(np.float32) @ query
    order = np.argsort(-scores, kind="stable")
    return [(found[i][0], found[i][1], float(scores[i])) for i in order]
