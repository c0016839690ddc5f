"""Neural-linear Thompson sampling: a learned representation with a Bayesian logistic last layer.

A small ReLU network ``g`` maps the context features to a representation; the demand model is the
logistic model of :mod:`pricepilot.policies.logistic` over ``z = [1, x, g(x)]`` (wide and deep: the raw
features stay, so the policy is never worse off than the linear one)::

    logit P(buy | x, a) = w1 . z + (w2 . z) * log f_a + w3 * coupon_a

Every ``retrain_every`` outcomes the network and a point estimate of ``w`` are trained jointly in torch
on all outcomes kept so far (minimising the log loss); the network is then frozen, exported to numpy,
and the Laplace posterior over ``w`` is refitted on the kept outcomes. Between retrainings the
posterior is updated online, and exploration is Thompson sampling over ``w`` (Riquelme et al. 2018,
"Deep Bayesian bandits showdown": neural-linear). Deciding never touches torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricepilot.policies.base import register
from pricepilot.policies.features import visit_features
from pricepilot.policies.logistic import LogisticTS, LogisticTSConfig, laplace_update
from pricepilot.policies.mlp import n_parameters, unpack
from pricepilot.types import ContextBatch, FloatArray, OutcomeBatch, PriceLadder


@dataclass(frozen=True)
class NeuralLinearConfig(LogisticTSConfig):
    """Logistic Thompson sampling's options, plus the representation network's.

    hidden : widths of the ReLU layers; the last width is the size of the learned representation.
    retrain_every : outcomes between retrainings of the network.
    epochs, batch_size, learning_rate, weight_decay : Adam training on the kept outcomes.
    max_kept : outcomes kept for retraining (the oldest are dropped first).
    """

    hidden: tuple[int, ...] = (32, 16)
    retrain_every: int = 25_000
    epochs: int = 2
    batch_size: int = 512
    learning_rate: float = 3e-3
    weight_decay: float = 1e-5
    max_kept: int = 400_000

    def __post_init__(self) -> None:
        LogisticTSConfig.__post_init__(self)
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must be one or more positive widths, got {self.hidden}")
        for name in ("retrain_every", "epochs", "batch_size", "max_kept"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


def relu_forward(params: FloatArray, x: FloatArray, shapes: list[tuple[int, int]]) -> FloatArray:
    """The representation: ReLU layers of ``shapes`` ((out, in) each) applied to ``x`` (n, in)."""
    h = x
    for w, b in unpack(params, shapes):
        h = np.maximum(h @ w.T + b, 0.0)
    return h


@register
class NeuralLinearTS(LogisticTS):
    """Thompson sampling over a logistic demand model on a learned representation (see module doc)."""

    name = "neural_linear"
    Config = NeuralLinearConfig
    config: NeuralLinearConfig

    def __init__(self, ladder: PriceLadder, config: NeuralLinearConfig | None = None, seed: int = 0) -> None:
        super().__init__(ladder, config, seed)
        self.params_: FloatArray = np.zeros(0)
        self.kept_x_: FloatArray = np.zeros((0, 0))
        self.kept_action_: FloatArray = np.zeros(0)
        self.kept_bought_: FloatArray = np.zeros(0)
        self.since_training_: FloatArray = np.zeros(1)

    def _shapes(self, n_inputs: int) -> list[tuple[int, int]]:
        shapes, width = [], n_inputs
        for h in self.config.hidden:
            shapes.append((h, width))
            width = h
        return shapes

    def _visit(self, contexts: ContextBatch) -> FloatArray:
        z = visit_features(contexts)
        width = self.config.hidden[-1]
        if self.params_.size == 0:  # before the first training the representation is all zeros
            return np.hstack([z, np.zeros((z.shape[0], width))])
        return np.hstack(
            [z, relu_forward(self.params_, contexts.features, self._shapes(contexts.n_features))]
        )

    def update(self, outcomes: OutcomeBatch) -> None:
        self._check_ladder(outcomes.contexts)
        self._keep(outcomes)
        self.since_training_ += outcomes.n
        if self.since_training_[0] >= self.config.retrain_every:
            self._retrain()
            self.n_updates_ += outcomes.n
            self._draws = None
        else:
            super().update(outcomes)

    def _keep(self, outcomes: OutcomeBatch) -> None:
        x = outcomes.contexts.features
        if self.kept_x_.size == 0:
            self.kept_x_ = np.zeros((0, x.shape[1]))
        limit = self.config.max_kept
        self.kept_x_ = np.vstack([self.kept_x_, x])[-limit:]
        self.kept_action_ = np.concatenate([self.kept_action_, outcomes.actions.astype(np.float64)])[-limit:]
        self.kept_bought_ = np.concatenate([self.kept_bought_, outcomes.purchased.astype(np.float64)])[
            -limit:
        ]

    def _retrain(self) -> None:
        """Train network and demand weights in torch on the kept outcomes, then refit the posterior."""
        try:
            import torch
        except ImportError as err:
            raise ImportError(
                f"{self.name} trains its representation with torch, which is not installed: "
                "pip install -c constraints.txt 'pricepilot[peers]' (the CPU build of torch 2.13.0)"
            ) from err

        cfg = self.config
        x = self.kept_x_
        shapes = self._shapes(x.shape[1])
        torch.manual_seed(int(self.rng.integers(2**31)))
        layers: list[torch.nn.Module] = []
        for out, inp in shapes:
            layers += [torch.nn.Linear(inp, out), torch.nn.ReLU()]
        body = torch.nn.Sequential(*layers).double()
        p = 1 + x.shape[1] + shapes[-1][0]
        head = torch.nn.Linear(2 * p + 1, 1, bias=False).double()
        with torch.no_grad():
            head.weight.zero_()
            head.weight[0, : self.mean_.size] = torch.from_numpy(self._warm_start(p))
        params = [*body.parameters(), *head.parameters()]
        opt = torch.optim.Adam(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        tx = torch.from_numpy(x)
        lf = torch.from_numpy(np.log(self.ladder.factors))[
            torch.from_numpy(self.kept_action_.astype(np.int64))
        ]
        cp = torch.from_numpy(self.ladder.is_coupon.astype(np.float64))[
            torch.from_numpy(self.kept_action_.astype(np.int64))
        ]
        ty = torch.from_numpy(self.kept_bought_)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        n = x.shape[0]
        order_rng = np.random.default_rng(self.rng.integers(2**63))
        for _ in range(cfg.epochs):
            for rows in np.array_split(order_rng.permutation(n), max(1, n // cfg.batch_size)):
                idx = torch.from_numpy(rows)
                z = torch.cat([torch.ones(len(rows), 1, dtype=torch.float64), tx[idx], body(tx[idx])], dim=1)
                design = torch.cat([z, z * lf[idx, None], cp[idx, None]], dim=1)
                loss = loss_fn(head(design)[:, 0], ty[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.params_ = np.concatenate(
            [
                t.detach().numpy().ravel()
                for lin in body
                if isinstance(lin, torch.nn.Linear)
                for t in (lin.weight, lin.bias)
            ]
        )
        assert self.params_.size == n_parameters(shapes)
        self._refit_posterior(head.weight.detach().numpy()[0])
        self.since_training_[:] = 0.0

    def _warm_start(self, p: int) -> FloatArray:
        """The current posterior mean laid out for a representation of width ``p`` (zeros if none)."""
        if self.mean_.size == 2 * p + 1:
            return self.mean_.copy()
        return np.zeros(2 * p + 1)

    def _refit_posterior(self, mode: FloatArray) -> None:
        """Laplace posterior of the demand weights on all kept outcomes, around the trained weights."""
        z = np.hstack(
            [
                np.ones((self.kept_x_.shape[0], 1)),
                self.kept_x_,
                relu_forward(self.params_, self.kept_x_, self._shapes(self.kept_x_.shape[1])),
            ]
        )
        design = self.design(z, self.kept_action_)
        dim = design.shape[1]
        prior = self.config.prior_precision * np.eye(dim)
        self.mean_, self.precision_ = laplace_update(
            np.zeros(dim), prior, design, self.kept_bought_, self.config.newton_steps, start=mode
        )
        self.chol_ = np.linalg.inv(np.linalg.cholesky(self.precision_)).T
