"""What the peer adapters share: registration when the library is installed, a lazy import with an
install hint, the reward the peers learn from, and model bytes stored as a numpy array."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.util import find_spec
from types import ModuleType
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from pricepilot.policies.base import PolicyBase, register
from pricepilot.types import FloatArray, OutcomeBatch

P = TypeVar("P", bound=PolicyBase)

REWARD_UNITS = ("list_price", "currency")
"""How a peer's learning target is expressed.

- ``'list_price'``: the realised reward divided by that row's list price (a sale of an item listed at 40
  earning a profit of 12 counts 0.3). Every action of one context shares the list price, so each
  context's best action is unchanged; what changes is that the targets of cheap and dear items are on
  one scale (about -1..1), which is the scale SquareCB's exploration and the ridge priors of LinUCB and
  LinTS assume.
- ``'currency'``: the realised reward as it is, in the shop's currency.
"""

INSTALL_HINT = "install the peers with `pip install 'pricepilot[peers]'`"


def installed(library: str) -> bool:
    """Whether ``library`` is installed, without importing it (so ``import pricepilot`` stays fast)."""
    return find_spec(library) is not None


def register_if_installed(library: str) -> Callable[[type[P]], type[P]]:
    """Class decorator: ``register`` the policy only when ``library`` is installed."""

    def decorate(cls: type[P]) -> type[P]:
        return register(cls) if installed(library) else cls

    return decorate


def require(module: str, policy: str) -> ModuleType:
    """Import ``module`` for ``policy``, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{policy} needs {module.split('.')[0]}: {INSTALL_HINT} ({err})") from err


def check_reward_unit(unit: str) -> None:
    """Raise a ``ValueError`` naming the choices unless ``unit`` is one of ``REWARD_UNITS``."""
    if unit not in REWARD_UNITS:
        raise ValueError(f"reward_unit must be one of {list(REWARD_UNITS)}, got {unit!r}")


def learning_rewards(outcomes: OutcomeBatch, unit: str) -> FloatArray:
    """The reward a peer learns from, shape (n,), in ``unit`` (see ``REWARD_UNITS``).

    Parameters
    ----------
    outcomes : OutcomeBatch
        Realised rewards under the run's objective, in currency, and the contexts' list prices.
    unit : {'list_price', 'currency'}
    """
    check_reward_unit(unit)
    if unit == "currency":
        return outcomes.reward
    list_prices = outcomes.contexts.list_prices
    if np.any(list_prices <= 0):
        raise ValueError("reward_unit='list_price' needs positive list prices; use reward_unit='currency'")
    return np.asarray(outcomes.reward / list_prices, dtype=np.float64)


def as_byte_array(data: bytes) -> NDArray[np.uint8]:
    """A serialised model as a uint8 array of shape (n_bytes,), so ``save`` stores it in ``state.npz``."""
    return np.frombuffer(data, dtype=np.uint8).copy()
