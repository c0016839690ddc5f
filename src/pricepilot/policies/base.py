"""The Policy protocol, a small base class with save/load, and the registry of policies by name.

A policy sees only typed batches: ``ContextBatch`` to decide and ``OutcomeBatch`` to learn. It never
touches a simulator, so the same object runs on the simulator, on logged data and behind the service.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, cast, runtime_checkable

import numpy as np

from pricepilot.types import ContextBatch, Decision, FloatArray, IntArray, OutcomeBatch, PriceLadder

FORMAT_VERSION = 1


@runtime_checkable
class Policy(Protocol):
    """What every pricing policy offers (see DESIGN.md)."""

    name: str
    ladder: PriceLadder

    def act(self, contexts: ContextBatch) -> Decision:
        """Choose an action for each context; the decision records each choice's propensity."""
        ...

    def update(self, outcomes: OutcomeBatch) -> None:
        """Learn from what followed earlier decisions."""
        ...

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        """Probability of every action for each context, shape (n, n_actions), rows summing to 1."""
        ...

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write config and learned state to ``path`` (a directory)."""
        ...


@runtime_checkable
class PurchaseModel(Protocol):
    """An optional capability of a policy that models demand: its current estimate of P(buy).

    ``purchase_probabilities_of(contexts)`` gives, for each context (row) and price action (column),
    the policy's point estimate (e.g. its posterior mean) of the probability that the visitor buys at
    that action's price: shape (n, n_actions), values in [0, 1]. It draws nothing and changes no
    state (no random generator is used), so calling it never alters the policy's later decisions.
    """

    def purchase_probabilities_of(self, contexts: ContextBatch) -> FloatArray:
        """Point estimate of P(buy | context, action), shape (n, n_actions)."""
        ...


class NotFittedError(RuntimeError):
    """Raised when a policy needs learned state that it does not have yet."""


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
    """Base of every policy's hyper-parameters (one dataclass per policy; the constructor validates)."""


P = TypeVar("P", bound="PolicyBase")


class PolicyBase:
    """Shared plumbing: config, seeded generator, sampling from probabilities, save and load.

    Subclasses set ``name`` and ``Config``, implement ``action_probabilities`` (and ``update`` when
    they learn) and keep learned state in attributes ending in ``_`` that hold numpy arrays; those
    are what ``save`` writes and ``load`` restores, with the generator's state, so a reloaded policy
    makes the same decisions.
    """

    name: ClassVar[str] = "base"
    Config: ClassVar[type[PolicyConfig]] = PolicyConfig

    def __init__(self, ladder: PriceLadder, config: PolicyConfig | None = None, seed: int = 0) -> None:
        if not isinstance(ladder, PriceLadder):
            raise TypeError(f"ladder must be a PriceLadder, got {type(ladder).__name__}")
        self.ladder = ladder
        self.config = config if config is not None else self.Config()
        if not isinstance(self.config, self.Config):
            raise TypeError(f"{self.name} takes a {self.Config.__name__}, got {type(self.config).__name__}")
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.version = f"{self.name}@1"

    @property
    def n_actions(self) -> int:
        return self.ladder.n_actions

    def fresh(self: P, seed: int) -> P:
        """A new, unfitted policy with the same ladder and config and the given seed."""
        return type(self)(self.ladder, self.config, seed=seed)

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        raise NotImplementedError

    def update(self, outcomes: OutcomeBatch) -> None:
        """Non-learning policies ignore outcomes."""
        self._check_ladder(outcomes.contexts)

    def act(self, contexts: ContextBatch) -> Decision:
        """Sample one action per context from ``action_probabilities``."""
        self._check_ladder(contexts)
        probs = self.action_probabilities(contexts)
        actions = sample_rows(probs, self.rng)
        rows = np.arange(contexts.n)
        return Decision.trusted(actions, probs[rows, actions], contexts.prices[rows, actions], self.version)

    def _check_ladder(self, contexts: ContextBatch) -> None:
        if contexts.ladder.n_actions != self.n_actions:
            raise ValueError(
                f"{self.name} was built for {self.n_actions} actions, the contexts have "
                f"{contexts.ladder.n_actions}"
            )

    # ----------------------------------------------------------------- persistence
    def _state(self) -> dict[str, np.ndarray[Any, Any]]:
        return {k: v for k, v in vars(self).items() if k.endswith("_") and isinstance(v, np.ndarray)}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``policy.json`` and ``state.npz`` into directory ``path`` atomically (all or nothing)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT_VERSION,
            "policy": self.name,
            "config": dataclasses.asdict(self.config),
            "ladder": self.ladder.to_dict(),
            "seed": self.seed,
            "rng": self.rng.bit_generator.state,
            "version": self.version,
        }
        tmp = Path(tempfile.mkdtemp(prefix=".saving-", dir=target.parent))
        (tmp / "policy.json").write_text(json.dumps(meta, indent=2))
        np.savez(tmp / "state.npz", allow_pickle=False, **self._state())
        if target.exists():
            old = target.with_name(target.name + ".old")
            target.rename(old)
            tmp.rename(target)
            for f in old.iterdir():
                f.unlink()
            old.rmdir()
        else:
            tmp.rename(target)

    @classmethod
    def _restore(cls: type[P], meta: dict[str, Any], state: dict[str, np.ndarray[Any, Any]]) -> P:
        config = cls.Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()})
        policy = cls(PriceLadder.from_dict(meta["ladder"]), config, seed=meta["seed"])
        policy.rng.bit_generator.state = meta["rng"]
        policy.version = meta["version"]
        for key, value in state.items():
            setattr(policy, key, value)
        return policy


def sample_rows(probs: FloatArray, rng: np.random.Generator) -> IntArray:
    """Draw one column index per row of a row-stochastic matrix ``probs`` (n, k) by inversion."""
    cdf = np.add.accumulate(probs, axis=1)  # cumsum, and sum below, as the ufuncs' own C calls
    u = rng.random(probs.shape[0]) * cdf[:, -1]
    actions = np.add.reduce(cdf < u[:, None], axis=1, dtype=np.int64)
    return cast(IntArray, np.minimum(actions, probs.shape[1] - 1))


def greedy_probabilities(scores: FloatArray) -> FloatArray:
    """One-hot probabilities on each row's best score, ties split evenly; shape of ``scores``."""
    best = scores >= scores.max(axis=1, keepdims=True) - 1e-12
    return np.asarray(best / best.sum(axis=1, keepdims=True), dtype=np.float64)


def win_counts(winners: IntArray, n_actions: int) -> FloatArray:
    """How often each action won in each column of ``winners`` (draws, n): shape (n, n_actions)."""
    n = winners.shape[1]
    flat = (np.arange(n)[None, :] * n_actions + winners).ravel()
    return np.bincount(flat, minlength=n * n_actions).reshape(n, n_actions).astype(np.float64)


_CLASSES: dict[str, type[PolicyBase]] = {}


def register(cls: type[P]) -> type[P]:
    """Class decorator: make a policy available by its ``name`` to ``make`` and ``load``."""
    _CLASSES[cls.name] = cls
    return cls


def available() -> list[str]:
    """Names of every registered policy."""
    return sorted(_CLASSES)


def make(name: str, ladder: PriceLadder, seed: int = 0, **config: Any) -> PolicyBase:
    """Build the policy called ``name``; keyword arguments set fields of its config dataclass."""
    if name not in _CLASSES:
        raise ValueError(f"unknown policy {name!r}; available: {available()}")
    cls = _CLASSES[name]
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    unknown = sorted(set(config) - fields)
    if unknown:
        raise ValueError(f"policy {name!r} has no option(s) {unknown}; its options: {sorted(fields)}")
    return cls(ladder, cls.Config(**config), seed=seed)


def load(path: str | os.PathLike[str]) -> PolicyBase:
    """Load a policy written by ``save``; it makes the same decisions the saved one would have."""
    folder = Path(path)
    meta_file = folder / "policy.json"
    if not meta_file.is_file():
        raise FileNotFoundError(f"no saved policy at {folder} (expected {meta_file})")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{meta_file}: format {meta.get('format')!r}, this version reads {FORMAT_VERSION}")
    name = meta["policy"]
    if name not in _CLASSES:
        raise ValueError(f"{meta_file}: unknown policy {name!r}; available: {available()}")
    with np.load(folder / "state.npz") as npz:
        state = {k: npz[k] for k in npz.files}
    return _CLASSES[name]._restore(meta, state)
