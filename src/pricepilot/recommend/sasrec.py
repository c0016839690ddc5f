"""A small SASRec (Kang and McAuley, 2018): causal self-attention over each user's item history.

Items are embedded (index 0 is padding), learned positional embeddings are added, and one or more
pre-norm causal Transformer blocks produce, at every position, a representation that scores the next
item by a dot product with the (shared) item embeddings. Training uses every position of every
window of a user's history: full softmax cross-entropy over all items (``loss="ce"``, the default,
cheap for a few thousand items) or binary cross-entropy with one sampled negative per position
(``loss="bce"``, the original paper's, for large catalogues). Torch trains; inference runs under
``torch.no_grad`` and returns numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Self

import numpy as np
import torch
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


class _Net(nn.Module):
    def __init__(self, n_items: int, cfg: SASRecConfig) -> None:
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

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """Hidden states of shape (batch, max_len, hidden) for padded item sequences (batch, max_len)."""
        keep = (seq > 0).unsqueeze(-1).float()
        pos = torch.arange(seq.shape[1], device=seq.device)
        x = self.drop((self.item_emb(seq) + self.pos_emb(pos)) * keep)
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
    """Self-attentive sequential recommender; scores the next item after each user's history."""

    def __init__(self, config: SASRecConfig | None = None) -> None:
        self.config = config or SASRecConfig()
        self.net_: _Net | None = None
        self.history_: IntArray | None = None
        self.seen_: sparse.csr_matrix | None = None
        self.losses_: list[float] = []

    def fit(self, interactions: Interactions) -> Self:
        cfg = self.config
        sequences = interactions.sequences()
        inputs, targets = _windows(sequences, cfg.max_len)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            net = _Net(interactions.n_items, cfg)
            opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            x_all, y_all = torch.from_numpy(inputs), torch.from_numpy(targets)
            self.losses_ = []
            net.train()
            for _ in range(cfg.epochs):
                perm = torch.randperm(x_all.shape[0])
                total, batches = 0.0, 0
                for start in range(0, perm.numel(), cfg.batch_size):
                    idx = perm[start : start + cfg.batch_size]
                    loss = self._loss(net, x_all[idx], y_all[idx], interactions.n_items)
                    opt.zero_grad()
                    loss.backward()  # type: ignore[no-untyped-call]
                    opt.step()
                    total, batches = total + float(loss.detach()), batches + 1
                self.losses_.append(total / batches)
        net.eval()
        self.net_ = net
        self.history_ = self._last_windows(sequences)
        self.seen_ = interactions.user_item_matrix()
        return self

    def _loss(self, net: _Net, x: torch.Tensor, y: torch.Tensor, n_items: int) -> torch.Tensor:
        h = net(x)
        valid = y > 0
        if self.config.loss == "ce":
            logits = h[valid] @ net.item_emb.weight[1:].T
            return functional.cross_entropy(logits, y[valid] - 1)
        neg = torch.randint(1, n_items + 1, y.shape)
        pos_logit = (h * net.item_emb(y)).sum(-1)[valid]
        neg_logit = (h * net.item_emb(neg)).sum(-1)[valid]
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
        with torch.no_grad():
            h = self.net_(torch.from_numpy(self.history_[users]))[:, -1]
            logits = h @ self.net_.item_emb.weight[1:].T
        return np.asarray(logits.numpy(), dtype=np.float64)

    def candidates(self, users: IntArray, k: int, exclude_seen: bool = True) -> tuple[IntArray, FloatArray]:
        users = np.asarray(users, dtype=np.int64)
        return top_k(self.scores(users), k, self.seen_ if exclude_seen else None, users)
