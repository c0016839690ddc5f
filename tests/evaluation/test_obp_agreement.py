"""PricePilot's estimators against Open Bandit Pipeline's on identical inputs (skips without obp)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pricepilot.data import LoggedData, action_frequencies, load_open_bandit, per_position
from pricepilot.data.open_bandit import obp_feedback
from pricepilot.evaluation import make_estimator

ope = pytest.importorskip("obp.ope", reason="Open Bandit Pipeline (obp) is not installed")
OPEN_BANDIT = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "open_bandit"


def _obp_values(logged: LoggedData, dist: np.ndarray, q: np.ndarray) -> dict[str, float]:
    assert logged.positions is not None
    feedback = obp_feedback(logged)
    estimators = [
        ope.InverseProbabilityWeighting(),
        ope.SelfNormalizedInverseProbabilityWeighting(),
        ope.DirectMethod(),
        ope.DoublyRobust(),
        ope.SelfNormalizedDoublyRobust(),
        ope.SwitchDoublyRobust(lambda_=5.0),
        ope.InverseProbabilityWeighting(lambda_=3.0, estimator_name="ipw_clipped"),
    ]
    evaluation = ope.OffPolicyEvaluation(bandit_feedback=feedback, ope_estimators=estimators)
    values = evaluation.estimate_policy_values(dist, estimated_rewards_by_reg_model=q)
    return {k: float(v) for k, v in values.items()}


def _compare(logged: LoggedData, table: np.ndarray, q_rows: np.ndarray) -> None:
    dist = np.broadcast_to(table, (logged.n, *table.shape)).copy()
    obp = _obp_values(logged, dist, np.repeat(q_rows[:, :, None], table.shape[1], axis=2))
    probs = per_position(table, logged)
    ours = {
        "ipw": make_estimator("ips").estimate(logged, probs).value,
        "snipw": make_estimator("snips").estimate(logged, probs).value,
        "dm": make_estimator("dm").estimate(logged, probs, q_rows).value,
        "dr": make_estimator("dr").estimate(logged, probs, q_rows).value,
        "sndr": make_estimator("sndr").estimate(logged, probs, q_rows).value,
        "switch-dr": make_estimator("switch_dr", threshold=5.0).estimate(logged, probs, q_rows).value,
        "ipw_clipped": make_estimator("ips", clip=3.0).estimate(logged, probs).value,
    }
    for name, value in ours.items():
        assert value == pytest.approx(obp[name], rel=1e-6), name


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_same_formulas_as_obp_on_a_synthetic_ranked_log() -> None:
    rng = np.random.default_rng(0)
    n, k, slots = 3_000, 6, 3
    positions = rng.integers(slots, size=n)
    logging = rng.dirichlet(np.ones(k), size=slots)  # (slots, k)
    actions = np.array([rng.choice(k, p=logging[p]) for p in positions])
    rewards = (rng.random(n) < 0.1 + 0.05 * actions).astype(float)
    logged = LoggedData(
        rng.standard_normal((n, 2)), actions, logging[positions, actions], rewards, k, positions
    )
    table = rng.dirichlet(np.ones(k), size=slots).T  # target (k, slots)
    _compare(logged, table, rng.random((n, k)) * 0.4)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_same_formulas_as_obp_on_the_open_bandit_dataset() -> None:
    if not (OPEN_BANDIT / "random" / "men" / "men.csv").is_file():
        pytest.skip(f"Open Bandit Dataset sample not found at {OPEN_BANDIT}")
    random_log = load_open_bandit(OPEN_BANDIT, "random", "men").logged
    table = action_frequencies(load_open_bandit(OPEN_BANDIT, "bts", "men").logged)
    q = np.random.default_rng(1).random((random_log.n, random_log.n_actions)) * 0.01
    _compare(random_log, table, q)
