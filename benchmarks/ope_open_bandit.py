"""Off-policy evaluation on real logs: the Open Bandit Dataset, PricePilot beside Open Bandit Pipeline.

For each campaign (``all``, ``men``, ``women``), the click rate of the Bernoulli Thompson sampling
(BTS) policy is estimated from the uniform-random log and compared with BTS's on-policy click rate in
its own log of the same week (the ground truth). Two versions of the BTS policy are evaluated:

- ``bts_prior``: Open Bandit Pipeline's standard evaluation policy, ``BernoulliTS`` with the ZOZOTOWN
  prior, its per-slot action distribution computed by Monte Carlo (``compute_batch_action_dist``);
- ``bts_logged``: the per-slot action frequencies of the BTS log itself, i.e. what the BTS policy
  actually played that week (its actions only; its clicks are the truth and are not used).

In the same run, on the same data:

1. PricePilot's estimators (cross-fitted logistic reward model; normal and bootstrap 95% intervals);
2. Open Bandit Pipeline 0.5.7's own pipeline end to end (its loader, its cross-fitted
   ``RegressionModel`` with logistic regression, its estimators and bootstrap intervals);
3. Open Bandit Pipeline's estimators fed PricePilot's very inputs (same arrays, same reward-model
   predictions): IPS, SNIPS and DR (and the others) must agree to 1e-6 relative.

    .venv/bin/python benchmarks/ope_open_bandit.py --data ../shared/data/open_bandit \\
        --out benchmarks/results/ope-open-bandit

Needs ``obp`` (``pip install --no-deps --ignore-requires-python obp==0.5.7`` plus scikit-learn, tqdm,
pyyaml, seaborn, matplotlib).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pricepilot.data import LoggedData, action_frequencies, load_open_bandit, per_position
from pricepilot.data.open_bandit import obp_feedback
from pricepilot.evaluation import (
    RewardModelConfig,
    UnreliableEstimateWarning,
    available_estimators,
    make_estimator,
    select_reward_model,
)
from pricepilot.types import FloatArray

CAMPAIGNS = ("all", "men", "women")
# PricePilot's reward model is chosen per campaign among these by the cross-fitted Brier score of the
# logged clicks (the random log alone; the BTS truth plays no part): with ~40 clicks in 10,000 rounds,
# how much structure the model can afford is a question for the data.
REWARD_MODELS = tuple(
    RewardModelConfig(interactions=inter, C=c, seed=0) for inter in (True, False) for c in (0.01, 0.1, 1.0)
)
SWITCH_THRESHOLD = 100.0  # PricePilot's default; Open Bandit Pipeline's SwitchDR gets the same lambda_
OBP_NAMES = {"dm": "dm", "ips": "ipw", "snips": "snipw", "dr": "dr", "sndr": "sndr", "switch_dr": "switch-dr"}


def obp_estimators() -> list[Any]:
    """Open Bandit Pipeline's estimators matching PricePilot's six."""
    from obp.ope import (
        DirectMethod,
        DoublyRobust,
        InverseProbabilityWeighting,
        SelfNormalizedDoublyRobust,
        SelfNormalizedInverseProbabilityWeighting,
        SwitchDoublyRobust,
    )

    return [
        DirectMethod(),
        InverseProbabilityWeighting(),
        SelfNormalizedInverseProbabilityWeighting(),
        DoublyRobust(),
        SelfNormalizedDoublyRobust(),
        SwitchDoublyRobust(lambda_=SWITCH_THRESHOLD),
    ]


def obp_dataset(data: Path, campaign: str) -> Any:
    """Open Bandit Pipeline's loader of the random log. Its ``pre_process`` calls ``DataFrame.drop``
    with both ``axis`` and ``columns``, which pandas 3 refuses; the override (the hook OBP documents
    for custom preprocessing) does the same thing in the pandas 3 spelling."""
    from obp.dataset import OpenBanditDataset
    from sklearn.preprocessing import LabelEncoder

    class PandasThreeOBD(OpenBanditDataset):  # type: ignore[misc]
        def pre_process(self) -> None:
            user_cols = self.data.columns.str.contains("user_feature")
            self.context = pd.get_dummies(self.data.loc[:, user_cols], drop_first=True).to_numpy(float)
            numeric = self.item_context["item_feature_0"].to_frame()
            cats = self.item_context.drop(columns=["item_id", "item_feature_0"])
            cats = cats.apply(LabelEncoder().fit_transform)
            self.action_context = pd.concat(objs=[cats, numeric], axis=1).to_numpy()

    return PandasThreeOBD(behavior_policy="random", campaign=campaign, data_path=data)


def bts_prior_distribution(campaign: str, n_actions: int, n_sim: int, seed: int) -> FloatArray:
    """OBP's BTS evaluation policy with the ZOZOTOWN prior: per-slot distribution, (n_actions, 3)."""
    from obp.policy import BernoulliTS

    policy = BernoulliTS(
        n_actions=n_actions, len_list=3, is_zozotown_prior=True, campaign=campaign, random_state=seed
    )
    return np.asarray(policy.compute_batch_action_dist(n_rounds=1, n_sim=n_sim)[0], dtype=np.float64)


def full_distribution(table: FloatArray, n: int) -> FloatArray:
    """A per-slot table (n_actions, 3) as OBP's ``action_dist`` of shape (n, n_actions, 3)."""
    return np.broadcast_to(table, (n, *table.shape)).copy()


def evaluate_campaign(data: Path, campaign: str, n_sim: int, n_bootstrap: int, seed: int) -> dict[str, Any]:
    from obp.ope import OffPolicyEvaluation, RegressionModel
    from sklearn.linear_model import LogisticRegression

    random_log = load_open_bandit(data, "random", campaign)
    bts_log = load_open_bandit(data, "bts", campaign)
    logged: LoggedData = random_log.logged
    n, k = logged.n, logged.n_actions
    clicks = bts_log.logged.rewards
    truth = float(clicks.mean())
    truth_se = float(clicks.std(ddof=1) / math.sqrt(clicks.size))

    # OBP's own loader must see the same rounds as ours
    ds = obp_dataset(data, campaign)
    feedback = ds.obtain_batch_bandit_feedback()
    assert positions_equal(logged, feedback), "OBP's loader and PricePilot's disagree on the log"

    start = time.perf_counter()
    model, predictions, scores = select_reward_model(logged, REWARD_MODELS)
    pp_model_s = time.perf_counter() - start
    start = time.perf_counter()
    obp_model = RegressionModel(
        n_actions=ds.n_actions,
        len_list=ds.len_list,
        action_context=ds.action_context,
        base_model=LogisticRegression(max_iter=1000, random_state=seed),
    )
    obp_predictions = obp_model.fit_predict(
        context=feedback["context"],
        action=feedback["action"],
        reward=feedback["reward"],
        position=feedback["position"],
        n_folds=3,
        random_state=seed,
    )
    obp_model_s = time.perf_counter() - start

    targets = {
        "bts_prior": bts_prior_distribution(campaign, k, n_sim, seed),
        "bts_logged": action_frequencies(bts_log.logged),
    }
    rows, agreement = [], []
    for label, table in targets.items():
        probs = per_position(table, logged)
        dist = full_distribution(table, n)
        ope = OffPolicyEvaluation(bandit_feedback=feedback, ope_estimators=obp_estimators())
        obp_values = ope.estimate_policy_values(dist, estimated_rewards_by_reg_model=obp_predictions)
        obp_ci = ope.estimate_intervals(
            dist,
            estimated_rewards_by_reg_model=obp_predictions,
            n_bootstrap_samples=n_bootstrap,
            random_state=seed,
        )
        same_inputs = OffPolicyEvaluation(
            bandit_feedback=obp_feedback(logged), ope_estimators=obp_estimators()
        ).estimate_policy_values(
            dist, estimated_rewards_by_reg_model=np.repeat(predictions[:, :, None], 3, 2)
        )
        for name in available_estimators():
            normal = make_estimator(name).estimate(logged, probs, predictions)
            boot = make_estimator(name, interval="bootstrap", n_bootstrap=n_bootstrap, seed=seed).estimate(
                logged, probs, predictions
            )
            obp_name = OBP_NAMES[name]
            obp_value = float(obp_values[obp_name])
            rows.append(
                {
                    "campaign": campaign,
                    "target": label,
                    "estimator": name,
                    "truth": truth,
                    "truth_se": truth_se,
                    "pp_value": normal.value,
                    "pp_normal_low": normal.ci_low,
                    "pp_normal_high": normal.ci_high,
                    "pp_boot_low": boot.ci_low,
                    "pp_boot_high": boot.ci_high,
                    "pp_rel_error": abs(normal.value - truth) / truth,
                    "pp_in_normal": normal.contains(truth),
                    "pp_in_boot": boot.contains(truth),
                    "obp_value": obp_value,
                    "obp_low": float(obp_ci[obp_name]["95.0% CI (lower)"]),
                    "obp_high": float(obp_ci[obp_name]["95.0% CI (upper)"]),
                    "obp_rel_error": abs(obp_value - truth) / truth,
                    "ess": normal.diagnostics.effective_sample_size,
                    "max_weight": normal.diagnostics.max_weight,
                }
            )
            same = float(same_inputs[obp_name])
            agreement.append(
                {
                    "campaign": campaign,
                    "target": label,
                    "estimator": name,
                    "pricepilot": normal.value,
                    "obp_same_inputs": same,
                    "rel_diff": abs(normal.value - same) / abs(same),
                }
            )
    selection = [
        {"campaign": campaign, **dataclasses.asdict(cfg), "brier": scores[i], "chosen": cfg == model.config}
        for i, cfg in enumerate(REWARD_MODELS)
    ]
    return {
        "rows": rows,
        "agreement": agreement,
        "selection": selection,
        "model_seconds": {"pp": pp_model_s, "obp": obp_model_s},
    }


def positions_equal(logged: LoggedData, feedback: dict[str, Any]) -> bool:
    """Whether OBP's bandit feedback holds the same rounds, in the same order, as our log."""
    assert logged.positions is not None
    return bool(
        np.array_equal(logged.actions, feedback["action"])
        and np.array_equal(logged.positions, feedback["position"])
        and np.array_equal(logged.rewards, feedback["reward"])
        and np.array_equal(logged.propensities, feedback["pscore"])
    )


def to_markdown(rows: pd.DataFrame, agreement: pd.DataFrame) -> str:
    lines = [
        "| campaign | target | estimator | on-policy truth | PricePilot [normal 95%] [bootstrap 95%] | "
        "rel. error | OBP [bootstrap 95%] | OBP rel. error | truth in PP normal / bootstrap |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in rows.iterrows():
        lines.append(
            f"| {r['campaign']} | {r['target']} | {r['estimator']} | "
            f"{r['truth']:.4f} ± {1.96 * r['truth_se']:.4f} | "
            f"{r['pp_value']:.5f} [{r['pp_normal_low']:.5f}, {r['pp_normal_high']:.5f}] "
            f"[{r['pp_boot_low']:.5f}, {r['pp_boot_high']:.5f}] | {r['pp_rel_error']:.3f} | "
            f"{r['obp_value']:.5f} [{r['obp_low']:.5f}, {r['obp_high']:.5f}] | {r['obp_rel_error']:.3f} | "
            f"{'yes' if r['pp_in_normal'] else 'NO'} / {'yes' if r['pp_in_boot'] else 'NO'} |"
        )
    lines += [
        "",
        "| campaign | target | estimator | PricePilot | OBP on the same inputs | relative difference |",
    ]
    lines += ["|---|---|---|---|---|---|"]
    for _, r in agreement.iterrows():
        lines.append(
            f"| {r['campaign']} | {r['target']} | {r['estimator']} | {r['pricepilot']:.10f} | "
            f"{r['obp_same_inputs']:.10f} | {r['rel_diff']:.1e} |"
        )
    return "\n".join(lines)


def selection_markdown(selection: pd.DataFrame) -> str:
    lines = ["| campaign | interactions | C | cross-fitted Brier score | chosen |", "|---|---|---|---|---|"]
    for _, r in selection.iterrows():
        lines.append(
            f"| {r['campaign']} | {r['interactions']} | {r['C']:g} | {r['brier']:.6f} | "
            f"{'yes' if r['chosen'] else ''} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    default_data = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "open_bandit"
    parser.add_argument("--data", type=Path, default=default_data, help="Open Bandit Dataset folder")
    parser.add_argument("--campaigns", default=",".join(CAMPAIGNS))
    parser.add_argument("--n-sim", type=int, default=100_000, help="Monte Carlo draws of OBP's BTS policy")
    parser.add_argument("--n-bootstrap", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--out", type=Path, default=None, help="folder for obd.md and obd.json")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    rows, agreement, selection, seconds = [], [], [], {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableEstimateWarning)
        for campaign in args.campaigns.split(","):
            result = evaluate_campaign(args.data, campaign, args.n_sim, args.n_bootstrap, args.seed)
            rows += result["rows"]
            agreement += result["agreement"]
            selection += result["selection"]
            seconds[campaign] = result["model_seconds"]
    table, agree = pd.DataFrame(rows), pd.DataFrame(agreement)
    text = to_markdown(table, agree) + "\n\n" + selection_markdown(pd.DataFrame(selection))
    print(text)
    worst = agree[agree["estimator"].isin(["ips", "snips", "dr"])]["rel_diff"].max()
    print(f"\nlargest relative difference of IPS/SNIPS/DR vs OBP on the same inputs: {worst:.2e}")
    print(f"{time.perf_counter() - start:.0f} s")
    if args.out is not None:
        import obp

        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "obd.md").write_text(text + "\n")
        record = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "obp_version": obp.__version__,
            "rows": rows,
            "agreement": agreement,
            "reward_model_selection": selection,
            "reward_model_seconds": seconds,
        }
        (args.out / "obd.json").write_text(json.dumps(record, indent=1, default=float))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
