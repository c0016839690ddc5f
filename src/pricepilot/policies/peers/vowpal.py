"""Vowpal Wabbit's ``--cb_explore_adf`` contextual bandits as PricePilot policies.

Each decision is one multi-line example: a shared line with the visit features and one line per price
action with the action features, the same features our own policies get
(:func:`pricepilot.policies.features.visit_features` and
:func:`~pricepilot.policies.features.action_features`)::

    shared |S 0:1 1:0.75 4:1 ...           (visit features, zeros left out)
    |A 0:-0.3567 1:0.1272 2:0             (action 0: log price multiple, its square, coupon flag)
    0:-0.31:0.82 |A 0:-0.1625 1:0.0264 2:0  (when learning: the logged action's cost and probability)
    ...

VW predicts a probability mass function over the actions (its exploration); the policy samples from it
with its own generator and logs that probability, and learns from the logged action, cost (minus the
reward, see ``reward_unit``) and probability.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from pricepilot.policies.base import PolicyBase, PolicyConfig
from pricepilot.policies.features import action_features, visit_features
from pricepilot.policies.peers.common import (
    as_byte_array,
    check_reward_unit,
    learning_rewards,
    register_if_installed,
    require,
)
from pricepilot.types import ContextBatch, FloatArray, OutcomeBatch, PriceLadder

CB_TYPES = ("mtr", "dr", "ips", "dm")


@dataclass(frozen=True)
class VWConfig(PolicyConfig):
    """Settings every Vowpal Wabbit peer shares (VW's own defaults unless said otherwise).

    Attributes
    ----------
    learning_rate : float
        ``-l``, VW's default 0.5, with its default adaptive, normalised, importance-invariant updates
        (0.1 and 2 did no better on the tuning run).
    power_t : float
        ``--power_t``, the decay exponent of the learning rate (VW's default 0.5).
    cb_type : {'mtr', 'dr', 'ips', 'dm'}
        ``--cb_type``: how the logged cost is turned into a regression target. ``'mtr'`` (VW's default
        for ``--cb_explore_adf``) regresses the cost of the logged action only, weighted by 1 / its
        probability.
    interactions : tuple of str
        ``-q`` pairs of namespaces. ``'SA'`` crosses every visit feature (namespace ``S``) with every
        action feature (namespace ``A``), so the price response depends on the visitor and the moment;
        without it the visit features shift every action equally and cannot change the choice.
    bit_precision : int
        ``-b``, log2 of the size of the hashed weight table (VW's default 18).
    reward_unit : {'list_price', 'currency'}
        The cost VW learns is minus the realised reward in this unit (see ``peers.common.REWARD_UNITS``);
        ``'list_price'`` keeps costs near -1..0, the scale VW's exploration assumes.
    """

    learning_rate: float = 0.5
    power_t: float = 0.5
    cb_type: str = "mtr"
    interactions: tuple[str, ...] = ("SA",)
    bit_precision: int = 18
    reward_unit: str = "list_price"

    def __post_init__(self) -> None:
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if not self.power_t >= 0:
            raise ValueError(f"power_t must be >= 0, got {self.power_t}")
        if self.cb_type not in CB_TYPES:
            raise ValueError(f"cb_type must be one of {list(CB_TYPES)}, got {self.cb_type!r}")
        for pair in self.interactions:
            if len(pair) != 2 or not set(pair) <= {"S", "A"}:
                raise ValueError(
                    f"interactions are pairs of the namespaces S and A (e.g. 'SA'), got {pair!r}"
                )
        if not 1 <= self.bit_precision <= 30:
            raise ValueError(f"bit_precision must lie in 1..30, got {self.bit_precision}")
        check_reward_unit(self.reward_unit)


@dataclass(frozen=True)
class VWSquareCBConfig(VWConfig):
    """SquareCB exploration (``--squarecb``): the action with the lowest predicted cost gets most of the
    mass and every other action ``1 / (K + gamma * (its predicted cost - the lowest))``, with
    ``gamma = gamma_scale * t ** gamma_exponent`` after ``t`` examples. VW's SquareCB takes only
    ``cb_type='mtr'``.

    ``gamma_scale`` is 100 where VW's default is 10: SquareCB's default is set for costs spread over
    [0, 1], while the expected costs of neighbouring prices differ by about 0.01-0.05 list prices, so
    with 10 the pmf stays close to uniform for most of a run. 100 was the best of 10, 100, 1000 on a
    tuning run (seed 99, 100,000 visits, no benchmark seed); ``gamma_exponent`` is VW's default 0.5.
    """

    gamma_scale: float = 100.0
    gamma_exponent: float = 0.5

    def __post_init__(self) -> None:
        VWConfig.__post_init__(self)
        if self.cb_type != "mtr":
            raise ValueError(f"VW's squarecb takes only cb_type='mtr', got {self.cb_type!r}")
        if not self.gamma_scale > 0:
            raise ValueError(f"gamma_scale must be positive, got {self.gamma_scale}")
        if not self.gamma_exponent >= 0:
            raise ValueError(f"gamma_exponent must be >= 0, got {self.gamma_exponent}")


@dataclass(frozen=True)
class VWEpsilonConfig(VWConfig):
    """Epsilon-greedy exploration (``--epsilon``): the greedy action gets ``1 - epsilon`` plus its share
    of ``epsilon``, spread uniformly over all actions (VW's default epsilon 0.05)."""

    epsilon: float = 0.05

    def __post_init__(self) -> None:
        VWConfig.__post_init__(self)
        if not 0 <= self.epsilon <= 1:
            raise ValueError(f"epsilon must lie in [0, 1], got {self.epsilon}")


def shared_lines(visit: FloatArray) -> list[str]:
    """VW's shared line for each context: ``'shared |S j:value ...'`` over the non-zero features.

    Parameters
    ----------
    visit : ndarray of shape (n, p), visit features (zeros are left out: VW ignores them anyway)
    """
    lines = []
    for row in visit:
        nz = np.flatnonzero(row)
        body = " ".join([f"{j}:{v:.9g}" for j, v in zip(nz.tolist(), row[nz].tolist(), strict=True)])
        lines.append("shared |S " + body)
    return lines


def action_lines(ladder: PriceLadder) -> list[str]:
    """VW's line for each action of the ladder, ``'|A 0:log_multiple 1:its_square 2:coupon'``."""
    return ["|A " + " ".join(f"{j}:{v:.9g}" for j, v in enumerate(row)) for row in action_features(ladder)]


class _VWPolicy(PolicyBase):
    """A ``--cb_explore_adf`` workspace behind the Policy protocol; subclasses choose the exploration.

    The workspace is built on first use and is the learned state: ``save`` stores VW's model file as a
    uint8 array ``model_`` and ``load`` reopens it, so the reloaded policy predicts the same pmf.
    """

    config: VWConfig

    def __init__(self, ladder: PriceLadder, config: VWConfig | None = None, seed: int = 0) -> None:
        super().__init__(ladder, config, seed)
        self._vw_module = require("vowpalwabbit", self.name)
        self._actions = action_lines(ladder)
        self._vw: Any = None

    def _exploration_args(self) -> list[str]:
        raise NotImplementedError

    def vw_arguments(self) -> list[str]:
        """The VW command line this policy runs (without ``--quiet``)."""
        cfg = self.config
        args = ["--cb_explore_adf", *self._exploration_args(), "--cb_type", cfg.cb_type]
        for pair in cfg.interactions:
            args += ["-q", pair]
        args += ["-l", repr(cfg.learning_rate), "--power_t", repr(cfg.power_t)]
        args += ["-b", str(cfg.bit_precision), "--random_seed", str(self.seed)]
        return args

    def _workspace(self) -> Any:
        if self._vw is None:
            self._vw = self._vw_module.Workspace(arg_list=[*self.vw_arguments(), "--quiet"])
        return self._vw

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        """VW's exploration pmf for each context, shape (n, n_actions), rows summing to 1.

        VW returns single-precision probabilities; each row is renormalised in double precision, and
        those are the probabilities ``act`` samples from and logs.
        """
        self._check_ladder(contexts)
        vw = self._workspace()
        probs = np.empty((contexts.n, self.n_actions))
        for i, shared in enumerate(shared_lines(visit_features(contexts))):
            pmf = vw.predict([shared, *self._actions])
            if len(pmf) != self.n_actions:
                raise RuntimeError(f"VW returned {len(pmf)} probabilities for {self.n_actions} actions")
            probs[i] = pmf
        return np.asarray(probs / probs.sum(axis=1, keepdims=True), dtype=np.float64)

    def update(self, outcomes: OutcomeBatch) -> None:
        """Learn from each logged action, its cost (minus the reward in ``reward_unit``) and probability."""
        self._check_ladder(outcomes.contexts)
        vw = self._workspace()
        costs = (-learning_rewards(outcomes, self.config.reward_unit)).tolist()
        actions = outcomes.actions.tolist()
        probs = outcomes.propensities.tolist()
        for shared, a, cost, prob in zip(
            shared_lines(visit_features(outcomes.contexts)), actions, costs, probs, strict=True
        ):
            lines = [shared, *self._actions]
            lines[1 + a] = f"0:{cost:.9g}:{prob:.9g} {self._actions[a]}"
            vw.learn(lines)

    # ----------------------------------------------------------------- persistence
    def model_bytes(self) -> bytes:
        """VW's model file (weights and learner state) as bytes."""
        with tempfile.TemporaryDirectory(prefix="pricepilot-vw-") as tmp:
            path = Path(tmp) / "model.vw"
            self._workspace().save(os.fspath(path))
            return path.read_bytes()

    def _state(self) -> dict[str, np.ndarray[Any, Any]]:
        state = super()._state()
        if self._vw is not None:
            state["model_"] = as_byte_array(self.model_bytes())
        return state

    @classmethod
    def _restore(cls, meta: dict[str, Any], state: dict[str, np.ndarray[Any, Any]]) -> Self:
        rest = {k: v for k, v in state.items() if k != "model_"}
        policy = super()._restore(meta, rest)
        if "model_" in state:
            with tempfile.TemporaryDirectory(prefix="pricepilot-vw-") as tmp:
                path = Path(tmp) / "model.vw"
                path.write_bytes(state["model_"].tobytes())
                policy._vw = policy._vw_module.Workspace(arg_list=["--quiet", "-i", os.fspath(path)])
        return policy


@register_if_installed("vowpalwabbit")
class VWSquareCB(_VWPolicy):
    """Vowpal Wabbit ``--cb_explore_adf --squarecb`` (Foster and Rakhlin's SquareCB) on our features."""

    name = "vw_squarecb"
    Config = VWSquareCBConfig
    config: VWSquareCBConfig

    def _exploration_args(self) -> list[str]:
        cfg = self.config
        return [
            "--squarecb",
            "--gamma_scale",
            repr(cfg.gamma_scale),
            "--gamma_exponent",
            repr(cfg.gamma_exponent),
        ]


@register_if_installed("vowpalwabbit")
class VWEpsilon(_VWPolicy):
    """Vowpal Wabbit ``--cb_explore_adf --epsilon`` (epsilon-greedy on VW's cost regression)."""

    name = "vw_epsilon"
    Config = VWEpsilonConfig
    config: VWEpsilonConfig

    def _exploration_args(self) -> list[str]:
        return ["--epsilon", repr(self.config.epsilon)]
