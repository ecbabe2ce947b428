"""`captionist embed-queries --model-path GGUF [--query-prefix TEXT]`: the small process
that turns search queries into vectors for the window, so that llama.cpp never loads in
the GUI process (a native abort there would take the window with it).

Protocol, JSON lines: first {"ready": true, "model_key": …, "dimension": …} (or
{"error": …} and exit 1), then one answer per request line {"text": …}:
{"vector": base64 of little-endian float32} or {"error": …}. It exits when stdin closes.
The client is app.core.semantic.query_embedder.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys

import numpy as np

EXIT_NO_MODEL = 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "embed-queries", help="(used by the window) embed search queries read from stdin"
    )
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--query-prefix", default="")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (default 1)")


def _say(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def cmd_embed_queries(args: argparse.Namespace) -> int:
    # Imported here: every other command starts without llama.cpp.
    from models.embedding import EmbeddingError, EmbeddingPrompts, TextEmbedder

    try:
        embedder = TextEmbedder(
            args.model_path,
            prompts=EmbeddingPrompts(query_prefix=args.query_prefix),
            n_threads=args.threads,
        )
    except EmbeddingError as exc:
        _say({"error": str(exc)})
        return EXIT_NO_MODEL
    with embedder:
        _say({"ready": True, "model_key": embedder.model_id, "dimension": embedder.dimension})
        for line in sys.stdin:
            try:
                text = json.loads(line)["text"]
                vector = np.asarray(embedder.embed_query(str(text)), dtype="<f4")
            except (ValueError, KeyError, TypeError) as exc:
                _say({"error": f"unreadable request: {exc}"})
                continue
            except EmbeddingError as exc:
                _say({"error": str(exc)})
                continue
            _say({"vector": base64.b64encode(vector.tobytes()).decode("ascii")})
    return 0
