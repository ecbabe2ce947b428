"""ConceptEmbedderDouble: a TEST DOUBLE for a text-embedding model.

Deterministic vectors with meaning built in, so tests can assert ranks: every word
maps to a concept through a small synonym and translation table ("puppy", "dog",
"hond", "chien" → dog), each concept owns one dimension, and a vector is the
normalised count of concepts (words outside the table share hashed dimensions,
weakly). The real llama.cpp embedding path is tested with real GGUF models in
tests/models/test_embedding.py and tests/semantic/test_embedding_worker.py.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import numpy.typing as npt

CONCEPTS = {
    "dog": ["dog", "dogs", "puppy", "puppies", "hond", "chien", "perro"],
    "beach": ["beach", "sand", "shore", "strand", "plage", "playa", "seaside"],
    "sunset": ["sunset", "dusk", "zonsondergang", "evening"],
    "city": ["city", "town", "stad", "ville", "urban", "street"],
    "night": ["night", "nacht", "nuit", "dark"],
    "car": ["car", "cars", "auto", "voiture", "vehicle"],
    "snow": ["snow", "snowy", "sneeuw", "neige", "winter"],
    "mountain": ["mountain", "mountains", "berg", "alps", "peak"],
    "family": ["family", "familie", "famille", "relatives"],
    "picnic": ["picnic", "lunch", "meal"],
    "kite": ["kite", "vlieger", "cerf-volant"],
    "cat": ["cat", "cats", "kitten", "kat", "chat"],
}
WORD_TO_CONCEPT = {word: i for i, words in enumerate(CONCEPTS.values()) for word in words}
HASHED = 16  # extra dimensions shared by every other word
DIMENSION = len(CONCEPTS) + HASHED


class ConceptEmbedderDouble:
    def __init__(self, model_id: str = "concept-double-v1", *, calls: list[int] | None = None):
        self.model_id = model_id
        self.dimension = DIMENSION
        self.calls = calls if calls is not None else []  # batch sizes, for tests to count

    def vector(self, text: str) -> npt.NDArray[np.float32]:
        vector = np.zeros(DIMENSION, np.float32)
        for word in re.findall(r"[\w-]+", text.lower()):
            concept = WORD_TO_CONCEPT.get(word)
            if concept is not None:
                vector[concept] += 1.0
            else:
                digest = hashlib.blake2b(word.encode(), digest_size=2).digest()
                vector[len(CONCEPTS) + digest[0] % HASHED] += 0.2
        if not vector.any():
            vector[-1] = 1.0
        return vector / np.linalg.norm(vector)

    def embed_documents(self, texts: list[str]) -> npt.NDArray[np.float32]:
        self.calls.append(len(texts))
        if not texts:
            return np.zeros((0, DIMENSION), np.float32)
        return np.stack([self.vector(text) for text in texts])

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        return self.vector(text)

    def close(self) -> None:
        pass
