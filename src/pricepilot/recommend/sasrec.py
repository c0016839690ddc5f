"""A small SASRec (Kang and McAuley, 2018): causal self-attention over each user's item history.

Items are embedded (index 0 is padding), learned positional embeddings are added, and one or more
pre-norm causal Transformer blocks produce, at every position, a representation that scores the next
item by a dot product with the (shared) item embeddings. Training uses every position of every
window of a user's history: full softmax cross-entropy over all items (``loss="ce"``, the default,
cheap for a few thousand items) or binary cross-entropy with one sampled negative per position
(``loss="bce"``, the original paper's, for large catalogues). Torch trains; inference runs under
``torch.no_grad`` and returns numpy.

Cold items: given ``item_text`` (one text embedding per item, e.g. of its title, from
:class:`pricepilot.recommend.text.TextEmbedder`), an item's representation is its learned id embedding
plus a learned linear projection of its text embedding, used both for the history and for scoring. Items
without training interactions are left out of the training softmax (and of the sampled negatives), and
their never-trained id embedding is dropped at inference, so they are scored by their text alone.
``id_dropout`` hides the id embedding of a random share of items in each batch, so that the model learns
to rank from text too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Self

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from scipy import sparse
from torch import nn
from torch.nn import functional

from pricepilot.recommend.base import Interactions, check_fitted, top_k
from pricepilot.types import FloatArray, IntArray


@dataclass(frozen=True, slots=True)
class SASRecConfig:
    """Hyper-parameters of :class:`SASRec`.

    hidden : embedding and model width
    max_len : longest history window seen by the model (older items are cut into earlier windows
        for training and dropped at inference)
    blocks, heads : Transformer blocks and attention heads per block
    dropout : dropout on embeddings and inside blocks
    epochs, batch_size, lr, weight_decay : Adam training
    loss : ``"ce"`` full softmax over items, or ``"bce"`` one sampled negative per position
    id_dropout : with item text, the probability that an item's id embedding is hidden in a batch
    seed : seeds initialisation, shuffling, dropout and negatives (global torch state is untouched)
    """

    hidden: int = 64
    max_len: int = 50
    blocks: int = 1
    heads: int = 1
    dropout: float = 0.2
    epochs: int = 20
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.0
    loss: Literal["ce", "bce"] = "ce"
    id_dropout: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("hidden", "max_len", "blocks", "heads", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be a multiple of heads ({self.heads})")
        if not 0 <= self.dropout < 1 or self.lr <= 0:
            raise ValueError(f"need 0 <= dropout < 1 and lr > 0, got {self.dropout}, {self.lr}")
        if self.loss not in ("ce", "bce"):
            raise ValueError(f"loss must be 'ce' or 'bce', got {self.loss!r}")
        if not 0 <= self.id_dropout < 1:
            raise ValueError(f"id_dropout must lie in [0, 1), got {self.id_dropout}")


class _Net(nn.Module):
    def __init__(self, n_items: int, cfg: SASRecConfig, text: torch.Tensor | None = None) -> None:
        super().__init__()
        self.item_emb = nn.Embedding(n_items + 1, cfg.hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.hidden)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                cfg.hidden, cfg.heads, cfg.hidden, cfg.dropout, batch_first=True, norm_first=True
            )
            for _ in range(cfg.blocks)
        )
        self.norm = nn.LayerNorm(cfg.hidden)
        nn.init.normal_(self.item_emb.weight, std=cfg.hidden**-0.5)
        nn.init.normal_(self.pos_emb.weight, std=cfg.hidden**-0.5)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        mask = torch.triu(torch.full((cfg.max_len, cfg.max_len), float("-inf")), diagonal=1)
        self.register_buffer("causal", mask)
        self.text_proj: nn.Linear | None = None
        if text is not None:
            # row 0 (padding) of ``text`` is zero and the projection has no bias, so padding stays 0
            self.register_buffer("text", text)
            self.text_proj = nn.Linear(text.shape[1], cfg.hidden, bias=False)

    def item_table(self, id_keep: torch.Tensor | None = None) -> torch.Tensor | None:
        """Item representations of shape (n_items + 1, hidden) with text (row 0 is padding): the id
        embedding, times ``id_keep`` (shape (n_items + 1,)) when given, plus the projected text; ``None``
        without text (then the id embedding alone is the representation)."""
        if self.text_proj is None:
            return None
        ids = self.item_emb.weight
        if id_keep is not None:
            ids = ids * id_keep.unsqueeze(-1)
        text = self.text
        assert isinstance(text, torch.Tensor)
        out: torch.Tensor = ids + self.text_proj(text)
        return out

    def forward(self, seq: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states of shape (batch, max_len, hidden) for padded item sequences (batch, max_len);
        ``table`` is :meth:`item_table`'s output when the model has text."""
        keep = (seq > 0).unsqueeze(-1).float()
        pos = torch.arange(seq.shape[1], device=seq.device)
        items = self.item_emb(seq) if table is None else table[seq]
        x = self.drop((items + self.pos_emb(pos)) * keep)
        causal = self.causal
        assert isinstance(causal, torch.Tensor)
        for block in self.blocks:
            x = block(x, src_mask=causal, is_causal=True) * keep
        out: torch.Tensor = self.norm(x)
        return out


def _windows(sequences: list[IntArray], max_len: int) -> tuple[IntArray, IntArray]:
    """Training windows: inputs and next-item targets, shape (n_windows, max_len), 1-based items,
    left-padded with 0. Each history is cut from its end into windows of ``max_len`` transitions."""
    inputs: list[IntArray] = []
    targets: list[IntArray] = []
    for seq in sequences:
        inp, tgt = seq[:-1] + 1, seq[1:] + 1
        for end in range(inp.size, 0, -max_len):
            start = max(0, end - max_len)
            pad = max_len - (end - start)
            inputs.append(np.r_[np.zeros(pad, np.int64), inp[start:end]])
            targets.append(np.r_[np.zeros(pad, np.int64), tgt[start:end]])
    if not inputs:
        raise ValueError("SASRec needs at least one user with two or more interactions")
    return np.stack(inputs), np.stack(targets)


class SASRec:
    """Self-attentive sequential recommender; scores the next item after each user's history.

    Parameters
    ----------
    config : hyper-parameters
    item_text : optional array of shape (n_items, text_dim): a text embedding of every item (row i for
        item index i), which lets the model score items it never saw in training
    """

    def __init__(self, config: SASRecConfig | None = None, item_text: ArrayLike | None = None) -> None:
        self.config = config or SASRecConfig()
        self.item_text = None if item_text is None else np.asarray(item_text, dtype=np.float32)
        if self.item_text is not None and (self.item_text.ndim != 2 or not np.isfinite(self.item_text).all()):
            raise ValueError(
                f"item_text must be a finite array of shape (n_items, text_dim), got shape "
                f"{self.item_text.shape}"
            )
        self.net_: _Net | None = None
        self.history_: IntArray | None = None
        self.seen_: sparse.csr_matrix | None = None
        self.trained_items_: NDArray[np.bool_] | None = None
        self.losses_: list[float] = []

    def _text_tensor(self, n_items: int) -> torch.Tensor | None:
        if self.item_text is None:
            return None
        if self.item_text.shape[0] != n_items:
            raise ValueError(
                f"item_text has {self.item_text.shape[0]} rows but the interactions have {n_items} items"
            )
        padded = np.vstack([np.zeros((1, self.item_text.shape[1]), np.float32), self.item_text])
        return torch.from_numpy(padded)

    def fit(self, interactions: Interactions) -> Self:
        cfg = self.config
        text = self._text_tensor(interactions.n_items)
        sequences = interactions.sequences()
        inputs, targets = _windows(sequences, cfg.max_len)
        trained = np.bincount(interactions.items, minlength=interactions.n_items) > 0
        # with text, items never seen in training stay out of the softmax and of the negatives
        allowed = torch.from_numpy(np.r_[False, trained]) if text is not None else None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            net = _Net(interactions.n_items, cfg, text)
            opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            x_all, y_all = torch.from_numpy(inputs), torch.from_numpy(targets)
            self.losses_ = []
            net.train()
            for _ in range(cfg.epochs):
                perm = torch.randperm(x_all.shape[0])
                total, batches = 0.0, 0
                for start in range(0, perm.numel(), cfg.batch_size):
                    idx = perm[start : start + cfg.batch_size]
                    loss = self._loss(net, x_all[idx], y_all[idx], allowed)
                    opt.zero_grad()
                    loss.backward()  # type: ignore[no-untyped-call]
                    opt.step()
                    total, batches = total + float(loss.detach()), batches + 1
                self.losses_.append(total / batches)
        net.eval()
        self.net_ = net
        self.history_ = self._last_windows(sequences)
        self.seen_ = interactions.user_item_matrix()
        self.trained_items_ = trained
        return self

    def _loss(
        self, net: _Net, x: torch.Tensor, y: torch.Tensor, allowed: torch.Tensor | None
    ) -> torch.Tensor:
        """Training loss of one batch; ``allowed`` (shape (n_items + 1,), bool) marks the items that
        may appear in the softmax and among negatives (``None``: all)."""
        table = None
        if net.text_proj is not None:
            keep = None
            if self.config.id_dropout > 0:
                keep = (torch.rand(net.item_emb.num_embeddings) >= self.config.id_dropout).float()
            table = net.item_table(keep)
        weights = net.item_emb.weight if table is None else table
        h = net(x, table)
        valid = y > 0
        if self.config.loss == "ce":
            logits = h[valid] @ weights[1:].T
            if allowed is not None:
                logits = logits.masked_fill(~allowed[1:], float("-inf"))
            return functional.cross_entropy(logits, y[valid] - 1)
        if allowed is None:
            neg = torch.randint(1, weights.shape[0], y.shape)
        else:
            pool = torch.nonzero(allowed).squeeze(1)
            neg = pool[torch.randint(0, pool.numel(), y.shape)]
        pos_logit = (h * weights[y]).sum(-1)[valid]
        neg_logit = (h * weights[neg]).sum(-1)[valid]
        return functional.binary_cross_entropy_with_logits(
            torch.cat([pos_logit, neg_logit]),
            torch.cat([torch.ones_like(pos_logit), torch.zeros_like(neg_logit)]),
        )

    def _last_windows(self, sequences: list[IntArray]) -> IntArray:
        """Each user's last ``max_len`` items, 1-based and left-padded: shape (n_users, max_len)."""
        out = np.zeros((len(sequences), self.config.max_len), dtype=np.int64)
        for u, seq in enumerate(sequences):
            tail = seq[-self.config.max_len :] + 1
            if tail.size:
                out[u, -tail.size :] = tail
        return out

    def scores(self, users: IntArray) -> FloatArray:
        """Next-item scores of every item for ``users``: shape (n, n_items). Users without history
        get the scores of an empty sequence."""
        check_fitted(self, "net_")
        assert self.net_ is not None
        assert self.history_ is not None
        assert self.trained_items_ is not None
        with torch.no_grad():
            # untrained id embeddings are noise: with text, cold items keep their text part only
            table = self.net_.item_table(torch.from_numpy(np.r_[False, self.trained_items_]).float())
            weights = self.net_.item_emb.weight if table is None else table
            h = self.net_(torch.from_numpy(self.history_[users]), table)[:, -1]
            logits = h @ weights[1:].T
        return np.asarray(logits.numpy(), dtype=np.float64)

    def candidates(self, users: IntArray, k: int, exclude_seen: bool = True) -> tuple[IntArray, FloatArray]:
        users = np.asarray(users, dtype=np.int64)
        return top_k(self.scores(users), k, self.seen_ if exclude_seen else None, users)
