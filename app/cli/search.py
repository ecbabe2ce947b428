"""`captionist search QUERY [--mode keyword|semantic|hybrid]` and `captionist similar
ID_OR_PATH`: the library's search from the command line.

Hybrid (keywords and meaning, fused) is the default once the library has caption
vectors (an embedding model, Settings → Search); until then the search is keyword
only. This process embeds the query itself (one query, then it exits), with the model
the library's vectors were made with; the window asks a small process instead
(app.core.semantic.query_embedder), to keep llama.cpp out of the GUI.
"""

from __future__ import annotations

import argparse
import sys

from app.cli.output import EXIT_USAGE, fail, item_id_of, json_path, print_json, shown
from app.core.library.library import Library
from app.core.search import SearchHit
from app.core.semantic.hybrid import Finder, Found, QueryEmbeddingError, SearchMode, fusion_of
from app.core.semantic.vectors import Vector
from app.core.storage.embedding_rows import StoredModel

NO_MATCHES = "no matches (try fewer words, a prefix like beac*, or OR between words)"


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    find = sub.add_parser("search", parents=[common], help="search captions, tags and names")
    find.add_argument("query", nargs="+", metavar="QUERY")
    find.add_argument(
        "--mode",
        choices=[mode.value for mode in SearchMode],
        default=None,
        help="keyword, semantic (by meaning) or hybrid (both, fused; the default when "
        "the library has caption vectors)",
    )
    _add_output_options(find)
    similar = sub.add_parser(
        "similar", parents=[common], help="items whose captions mean nearly the same as one's"
    )
    similar.add_argument("item", metavar="ID_OR_PATH")
    _add_output_options(similar)


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--limit", type=int, default=20, metavar="N", help="at most N results (N ≥ 1)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON array")


class InProcessQueryEmbedder:
    """Embeds the query here, with the model of the library's vectors (loaded once)."""

    def __init__(self) -> None:
        self._loaded: tuple[StoredModel, object] | None = None

    def __call__(self, model: StoredModel, text: str) -> Vector:
        # Imported here: llama.cpp loads only for a search by meaning.
        from models.embedding import EmbeddingError, EmbeddingPrompts, TextEmbedder

        try:
            if self._loaded is None or self._loaded[0] != model:
                embedder = TextEmbedder(
                    model.path, prompts=EmbeddingPrompts(query_prefix=model.query_prefix)
                )
                if embedder.model_id != model.model_key:
                    embedder.close()
                    raise QueryEmbeddingError(
                        f"{model.path} is no longer the model the library's vectors were made with"
                    )
                self._loaded = (model, embedder)
            loaded = self._loaded[1]
            assert isinstance(loaded, TextEmbedder)
            return loaded.embed_query(text)
        except EmbeddingError as exc:
            raise QueryEmbeddingError(str(exc)) from None

    def close(self) -> None:
        if self._loaded is not None:
            loaded = self._loaded[1]
            close = getattr(loaded, "close", None)
            if close is not None:
                close()
            self._loaded = None


def cmd_search(library: Library, args: argparse.Namespace) -> int:
    if args.limit < 1:
        return fail(args, f"--limit must be 1 or more (got {args.limit})", EXIT_USAGE)
    embedder = InProcessQueryEmbedder()
    try:
        mode = SearchMode(args.mode or SearchMode.HYBRID)
        found = Finder(library.db, embedder, fusion_of(library.db)).find(
            " ".join(args.query), mode=mode, limit=args.limit
        )
    finally:
        embedder.close()
    if found.notice and (args.mode or "getting ready" in found.notice):
        print(f"note: {found.notice}", file=sys.stderr)
    return _print(found, args, NO_MATCHES)


def cmd_similar(library: Library, args: argparse.Namespace) -> int:
    if args.limit < 1:
        return fail(args, f"--limit must be 1 or more (got {args.limit})", EXIT_USAGE)
    item_id = item_id_of(library, args.item)
    if item_id is None:
        return fail(args, f"{args.item}: not in the library", EXIT_USAGE)
    found = Finder(library.db).similar(item_id, limit=args.limit)
    if found.notice:
        print(f"note: {found.notice}", file=sys.stderr)
    return _print(found, args, "nothing similar found")


def _print(found: Found, args: argparse.Namespace, nothing: str) -> int:
    if args.json:
        print_json([_as_json(hit) for hit in found.hits], indent=2)
        return 0
    if not found.hits:
        print(nothing)
    for hit in found.hits:
        moment = f" @ {hit.timestamp:.1f}s" if hit.timestamp is not None else ""
        why = "  (similar meaning)" if hit.match == "semantic" else ""
        print(f"{shown(hit.path)}{moment}{why}\n    {hit.snippet}")
    return 0


def _as_json(hit: SearchHit) -> dict[str, object]:
    return {
        **json_path(hit.path),
        "snippet": hit.snippet,
        "score": hit.score,  # bm25, cosine (semantic) or the fused RRF score (hybrid)
        "match": hit.match,  # keyword, semantic or both
        "timestamp": hit.timestamp,
        "kind": hit.kind,
        "item_id": hit.item_id,
        "taken_at": hit.taken_at,
    }
