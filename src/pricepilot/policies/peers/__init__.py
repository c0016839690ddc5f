"""Peers: other libraries' bandits wrapped as PricePilot policies, so benchmarks run them beside ours
on identical traffic and features.

- ``vw_squarecb``, ``vw_epsilon``: Vowpal Wabbit ``--cb_explore_adf`` (:mod:`.vowpal`).
- ``mab_linucb``, ``mab_lints``: MABWiser ``LinUCB`` and ``LinTS`` (:mod:`.mabwiser_linear`).

Each is registered only when its library is installed (``pip install 'pricepilot[peers]'``); that is
checked without importing the library, which is imported when a peer is first built, so
``import pricepilot`` stays fast.
"""

from __future__ import annotations

from pricepilot.policies.peers.common import REWARD_UNITS, installed
from pricepilot.policies.peers.mabwiser_linear import (
    LinearMABConfig,
    LinTSConfig,
    MabLinTS,
    MabLinUCB,
    argmax_probabilities,
)
from pricepilot.policies.peers.vowpal import (
    VWConfig,
    VWEpsilon,
    VWEpsilonConfig,
    VWSquareCB,
    VWSquareCBConfig,
)

__all__ = [
    "REWARD_UNITS",
    "LinTSConfig",
    "LinearMABConfig",
    "MabLinTS",
    "MabLinUCB",
    "VWConfig",
    "VWEpsilon",
    "VWEpsilonConfig",
    "VWSquareCB",
    "VWSquareCBConfig",
    "argmax_probabilities",
    "installed",
]
