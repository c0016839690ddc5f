"""Reinforcement learning on the dynamic markets: DQN, Q-learning and SARSA against exact references.

(a) Small inventory season (``pricepilot/InventorySeason-v0``, preset ``inventory-small``): each
    learner's greedy policy is evaluated *exactly* on the season's tabular MDP
    (``mdp.evaluate_policy`` over ``season.to_mdp()``) and reported as a share of the value-iteration
    optimum.
(b) Reference-price market (``pricepilot/ReferencePrice-v0``): our DQN (``REFERENCE_DQN``: reference-price
    gaps and a purchase-decomposed Q), the same DQN with ``gamma = 0``
    (a myopic learner with the same features and budget), Stable-Baselines3's DQN and PricePilot's
    myopic contextual bandits (``MYOPIC_BANDITS``: they maximise the immediate reward, act on the
    visit's ``ContextBatch`` through ``env.current_batch`` and update after every visit) train for the
    same number of environment steps on the same seeds; every policy then prices the same held-out
    evaluation episodes (the DQNs greedily, a bandit, frozen, by its most probable action), scored by
    the oracle's *expected* reward of the chosen action at each visit
    (the state path is exact: the reference price moves with the price shown, not with the purchase).
    References: the myopic oracle (per visit, the action of highest expected reward given the current
    reference price), every fixed price, and two clairvoyant *dynamic* policies that show what the
    reference-price dynamics are worth -- steady-state greedy (per visit, the best action were the
    reference already at that price) and a dynamic-programming oracle over the reference price that
    knows the current visit's truth and the episode's distribution of visits (not their order).

Run: ``python benchmarks/rl_dynamic.py [--seeds 0,1,2] [--reference-steps 50000] ...``; it prints the
command line, then markdown tables. Torch runs on one thread for both DQNs.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch

import pricepilot
import pricepilot.market  # registers the envs
from pricepilot.market.demand import purchase_probabilities
from pricepilot.market.envs import InventorySeasonEnv, ReferencePriceEnv
from pricepilot.market.inventory import InventorySeason
from pricepilot.market.mdp import evaluate_policy
from pricepilot.market.shop import MarketBatch
from pricepilot.policies.base import PolicyBase
from pricepilot.policies.base import make as make_policy
from pricepilot.policies.rl import (
    DQN,
    DQNConfig,
    QLearning,
    QLearningConfig,
    Sarsa,
    SarsaConfig,
    TabularConfig,
)
from pricepilot.types import Decision, FloatArray, IntArray, OutcomeBatch

INVENTORY_DQN = DQNConfig(reward_scale=0.01, gamma=1.0, dueling=True, anneal_lr=True)
REFERENCE_COLUMN = 24
"""Index of ``visitor_reference_log_price`` in the reference-price env's observation (checked at run time)."""
REFERENCE_DQN = DQNConfig(
    hidden_sizes=(32,),
    gamma=0.8,
    reward_scale=0.05,
    anneal_lr=True,
    reference_feature=REFERENCE_COLUMN,
    purchase_head=True,
    exploration_fraction=0.25,
)
"""Our reference-price DQN: reference-price gaps as inputs and a purchase-decomposed Q (``Q = list price x
P(buy) x value + continuation``, P fitted to the purchases), epsilon annealed over the first quarter of
the run; ``--dqn-changes purchase_head=False exploration_fraction=0.5`` gives RESULTS.md's table (c)."""
MYOPIC_BANDITS = ("logistic_ts", "thompson", "linucb", "lints", "epsilon_greedy")
"""PricePilot's contextual bandits that maximise the immediate reward, at their default configs."""
BANDIT_PREFIX = "myopic bandit: "
REFERENCE_GRID = 241  # reference log-price grid of the dynamic-programming oracle

Greedy = Callable[[FloatArray], IntArray]
Chooser = Callable[[FloatArray, MarketBatch, FloatArray, int], int]  # obs, visit, expected rewards, t


def _tabular(cls: type[TabularConfig], season: InventorySeason) -> TabularConfig:
    """Exact cells for ``[units / U, periods / T]``: ``max(U, T) + 1`` bins on [0, 1] separate them all."""
    bins = max(season.units, season.periods) + 1
    return cls(columns=(0, 1), bins=bins, low=0.0, high=1.0, gamma=1.0, learning_rate=0.005)


def season_value(season: InventorySeason, greedy: Greedy) -> float:
    """Exact expected return from the full season of the greedy policy read off at every live state."""
    U, T = season.units, season.periods
    mdp = season.to_mdp()
    units, periods = (g.ravel() for g in np.meshgrid(np.arange(1, U + 1), np.arange(1, T + 1)))
    obs = np.column_stack([units / U, periods / T]).astype(np.float32).astype(np.float64)
    policy = np.zeros(mdp.n_states, dtype=np.int64)
    policy[periods * (U + 1) + units] = greedy(obs)
    return float(evaluate_policy(mdp, policy)[season.state_index(U, T)])


def inventory(seeds: list[int], dqn_steps: int, tabular_steps: int) -> list[dict[str, Any]]:
    env = gym.make("pricepilot/InventorySeason-v0", scenario="inventory-small")
    season = cast(InventorySeasonEnv, env.unwrapped).season
    optimum = float(season.solve()[0][-1, -1])
    learners: dict[str, tuple[Callable[[int], DQN | QLearning | Sarsa], int]] = {
        "dqn": (lambda s: DQN(season.ladder, INVENTORY_DQN, seed=s), dqn_steps),
        "q_learning": (
            lambda s: QLearning(season.ladder, _tabular(QLearningConfig, season), seed=s),
            tabular_steps,
        ),
        "sarsa": (lambda s: Sarsa(season.ladder, _tabular(SarsaConfig, season), seed=s), tabular_steps),
    }
    rows = []
    for name, (build, steps) in learners.items():
        for seed in seeds:
            policy = build(seed)
            log = policy.learn(env, steps, seed=seed)
            value = season_value(season, policy.greedy_actions)
            rows.append(
                {
                    "policy": name,
                    "seed": seed,
                    "steps": steps,
                    "value": value,
                    "optimum": optimum,
                    "share": value / optimum,
                    "train_s": log.seconds,
                    "config": asdict(policy.config),
                }
            )
            print(
                f"  inventory {name} seed {seed}: {value / optimum:.4f} of optimum ({log.seconds:.0f}s)",
                file=sys.stderr,
            )
    return rows


# ----------------------------------------------------------------- reference-price references
def _visit(env: ReferencePriceEnv) -> MarketBatch:
    """The visit the env is showing (the benchmark reads the simulator's truth; policies never do)."""
    return env.current_batch


def _record_episode(env: ReferencePriceEnv, seed: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Base log-odds, slopes (shape (H,)) and values if bought (H, K) of an episode's visits.

    The visits do not depend on the prices shown (common random numbers; no competitor reaction).
    """
    env.reset(seed=seed)
    base, slope, value = [], [], []
    for _ in range(env.horizon):
        b = _visit(env)
        base.append(b.truth.base[0])
        slope.append(b.truth.slope[0])
        value.append(b.context.value_if_bought[0])
        env.step(0)
    return np.asarray(base), np.asarray(slope), np.asarray(value)


def dp_continuations(env: ReferencePriceEnv, seed: int) -> tuple[FloatArray, list[FloatArray]]:
    """Backward induction over the reference log price, future visits drawn from the episode's visits.

    Returns the grid (G,) and, per step t, the continuation value (G, K) of taking each action from each
    reference (interpolated linearly between grid points).
    """
    base, slope, value = _record_episode(env, seed)
    m = env.market
    lf, coupon = np.log(m.ladder.factors), m.ladder.is_coupon.astype(np.float64)
    lam = env.config.reference_adaptation
    grid = np.linspace(lf.min(), lf.max(), REFERENCE_GRID)
    H, G = base.size, grid.size
    probs = purchase_probabilities(
        np.repeat(base, G), np.repeat(slope, G), np.tile(grid, H), lf, coupon, m.response
    ).reshape(H, G, lf.size)
    rewards = probs * value[:, None, :]  # (H, G, K)
    next_ref = (1 - lam) * grid[:, None] + lam * lf[None, :]  # (G, K)
    future = np.zeros(G)
    conts: list[FloatArray] = []
    for _ in range(H):
        cont = np.interp(next_ref, grid, future)
        conts.append(cont)
        future = (rewards + cont[None]).max(axis=2).mean(axis=0)
    return grid, conts[::-1]


def evaluate(env: ReferencePriceEnv, choose: Chooser, seeds: list[int]) -> float:
    """Mean over the episodes of the summed oracle-expected reward of the chosen actions."""
    totals = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        total = 0.0
        for t in range(env.horizon):
            batch = _visit(env)
            expected = env.market.oracle.expected_rewards(batch)[0]
            action = choose(np.asarray(obs, dtype=np.float64), batch, expected, t)
            total += float(expected[action])
            obs, *_ = env.step(action)
        totals.append(total)
    return float(np.mean(totals))


def _fixed(action: int) -> Chooser:
    return lambda o, b, e, t: action


def _greedy_chooser(greedy: Greedy) -> Chooser:
    return lambda o, b, e, t: int(greedy(o[None, :])[0])


def _dp_chooser(grid: FloatArray, conts: list[FloatArray]) -> Chooser:
    """Per visit, the action maximising expected reward now plus the continuation value."""

    def choose(o: FloatArray, b: MarketBatch, e: FloatArray, t: int) -> int:
        r = b.truth.reference[0]
        cont = np.array([np.interp(r, grid, conts[t][:, a]) for a in range(e.size)])
        return int(np.argmax(e + cont))

    return choose


def _bandit_outcome(batch: MarketBatch, decision: Decision, purchased: bool) -> OutcomeBatch:
    """The outcome of one visit, rebuilt from the env's step (the same numbers ``Market.step`` gives)."""
    ctx, a = batch.context, decision.actions
    bought = np.array([purchased])
    price, cost = ctx.prices[0, a], ctx.unit_costs
    return OutcomeBatch(
        ctx,
        a,
        decision.propensities,
        bought,
        np.where(bought, price, 0.0),
        np.where(bought, price - cost, 0.0),
        np.where(bought, ctx.value_if_bought[0, a], 0.0),
    )


def train_bandit(name: str, env: ReferencePriceEnv, steps: int, seed: int) -> tuple[PolicyBase, float]:
    """Run bandit ``name`` online on ``env`` for ``steps`` visits, updating after every visit.

    The bandit acts on the visit's ``ContextBatch`` (``env.current_batch.context``), the env steps with
    its action and the bandit learns from the outcome; episodes restart as the DQN's do (first reset
    seeded with ``seed``).
    """
    policy = make_policy(name, env.market.ladder, seed=seed)
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        batch = env.current_batch
        decision = policy.act(batch.context)
        _, _, terminated, truncated, info = env.step(int(decision.actions[0]))
        policy.update(_bandit_outcome(batch, decision, info["purchased"]))
        if terminated or truncated:
            env.reset()
    return policy, time.perf_counter() - start


def _bandit_chooser(policy: PolicyBase) -> Chooser:
    """Evaluation: the bandit, frozen, takes its most probable action (the greedy choice)."""
    return lambda o, b, e, t: int(np.argmax(policy.action_probabilities(b.context)[0]))


def reference_oracles(env: ReferencePriceEnv, seeds: list[int]) -> dict[str, float]:
    m = env.market
    results = {"myopic oracle": evaluate(env, lambda o, b, e, t: int(np.argmax(e)), seeds)}
    fixed = [evaluate(env, _fixed(a), seeds) for a in range(m.n_actions)]
    best = int(np.argmax(fixed))
    results[f"best fixed price (x{m.ladder.factors[best]:.3g})"] = fixed[best]

    def steady(o: FloatArray, b: MarketBatch, e: FloatArray, t: int) -> int:
        lf = np.log(m.ladder.factors)
        p = purchase_probabilities(
            np.full(lf.size, b.truth.base[0]),
            np.full(lf.size, b.truth.slope[0]),
            lf,
            lf,
            m.ladder.is_coupon.astype(np.float64),
            m.response,
        )
        return int(np.argmax(np.diag(p) * b.context.value_if_bought[0]))

    results["steady-state greedy oracle"] = evaluate(env, steady, seeds)
    dp_totals = [evaluate(env, _dp_chooser(*dp_continuations(env, seed)), [seed]) for seed in seeds]
    results["dynamic-programming oracle"] = float(np.mean(dp_totals))
    return results


def reference(
    seeds: list[int],
    steps: int,
    eval_seeds: list[int],
    sb3: bool,
    changes: dict[str, Any],
    bandits: tuple[str, ...] = MYOPIC_BANDITS,
    reuse: dict[str, Any] | None = None,
    myopic_dqn: bool = True,
    dqn: DQNConfig = REFERENCE_DQN,
) -> dict[str, Any]:
    """Train and evaluate on ``ReferencePrice-v0`` with ``changes`` to the ``reference-price`` preset.

    ``dqn``: our DQN's settings. ``myopic_dqn``: also train its ``gamma = 0`` twin. ``reuse``: the
    ``reference`` record of an earlier run; its rows of peers that are not run now (Stable-Baselines3
    and the myopic bandits, whose code and settings this run does not change) join this run's rows,
    marked ``"reused": true``. It must have the same seeds, evaluation episodes, steps and preset
    changes.
    """

    def make() -> gym.Env[Any, Any]:
        return gym.make("pricepilot/ReferencePrice-v0", **changes)

    env = cast(ReferencePriceEnv, make().unwrapped)
    if env.config.competitor_reaction != 0:
        raise ValueError("the dynamic-programming oracle assumes no competitor reaction")
    names = env.market.feature_names
    if names.index("visitor_reference_log_price") != REFERENCE_COLUMN:
        raise ValueError(
            f"REFERENCE_COLUMN is {REFERENCE_COLUMN} but the observation's reference log price is column "
            f"{names.index('visitor_reference_log_price')}: update REFERENCE_COLUMN"
        )
    oracles = reference_oracles(env, eval_seeds)
    print(f"  reference oracles: {oracles}", file=sys.stderr)
    learners: dict[str, Callable[[int], tuple[Greedy, float, dict[str, Any]]]] = {}
    ladder = env.market.ladder

    def ours(config: DQNConfig) -> Callable[[int], tuple[Greedy, float, dict[str, Any]]]:
        def train(seed: int) -> tuple[Greedy, float, dict[str, Any]]:
            policy = DQN(ladder, config, seed=seed)
            log = policy.learn(make(), steps, seed=seed)
            return policy.greedy_actions, log.seconds, asdict(config)

        return train

    def sb3_dqn(seed: int) -> tuple[Greedy, float, dict[str, Any]]:
        from stable_baselines3 import DQN as SB3DQN

        model = SB3DQN("MlpPolicy", make(), seed=seed, device="cpu")
        start = time.perf_counter()
        model.learn(total_timesteps=steps)
        seconds = time.perf_counter() - start

        def greedy(obs: FloatArray) -> IntArray:
            return np.asarray(model.predict(obs.astype(np.float32), deterministic=True)[0], dtype=np.int64)

        return greedy, seconds, {"policy": "MlpPolicy", "total_timesteps": steps, "seed": seed}

    learners["dqn (ours)"] = ours(dqn)
    if myopic_dqn:
        learners["dqn (ours), gamma = 0: myopic learner"] = ours(DQNConfig(**{**asdict(dqn), "gamma": 0.0}))
    if sb3:
        learners["Stable-Baselines3 DQN (defaults)"] = sb3_dqn

    def bandit(name: str) -> Callable[[int], tuple[Chooser, float, dict[str, Any]]]:
        def train(seed: int) -> tuple[Chooser, float, dict[str, Any]]:
            policy, seconds = train_bandit(name, cast(ReferencePriceEnv, make().unwrapped), steps, seed)
            return _bandit_chooser(policy), seconds, asdict(policy.config)

        return train

    def as_chooser(
        train: Callable[[int], tuple[Greedy, float, dict[str, Any]]],
    ) -> Callable[[int], tuple[Chooser, float, dict[str, Any]]]:
        def run(seed: int) -> tuple[Chooser, float, dict[str, Any]]:
            greedy, seconds, config = train(seed)
            return _greedy_chooser(greedy), seconds, config

        return run

    choosers = {name: as_chooser(train) for name, train in learners.items()}
    for name in bandits:
        choosers[f"{BANDIT_PREFIX}{name}"] = bandit(name)
    rows = []
    if reuse is not None:
        rows.extend(_reused_rows(reuse, seeds, steps, eval_seeds, changes, skip=set(choosers)))
    for name, train_chooser in choosers.items():
        for seed in seeds:
            choose, seconds, config = train_chooser(seed)
            value = evaluate(env, choose, eval_seeds)
            rows.append(
                {
                    "policy": name,
                    "seed": seed,
                    "steps": steps,
                    "episode_reward": value,
                    "train_s": seconds,
                    "config": config,
                }
            )
            print(f"  reference {name} seed {seed}: {value:.2f} ({seconds:.0f}s)", file=sys.stderr)
    return {"oracles": oracles, "rows": rows, "eval_seeds": eval_seeds, "changes": changes}


def _reused_rows(
    record: dict[str, Any],
    seeds: list[int],
    steps: int,
    eval_seeds: list[int],
    changes: dict[str, Any],
    skip: set[str],
) -> list[dict[str, Any]]:
    """The peers' rows of an earlier ``reference`` record made under the same settings (see ``reference``)."""
    if record["eval_seeds"] != eval_seeds or record["changes"] != changes:
        raise ValueError(
            "--reuse needs a record with the same evaluation episodes and preset changes, got "
            f"{record['eval_seeds'][0]}..{record['eval_seeds'][-1]} and {record['changes']}"
        )
    peers = [
        r
        for r in record["rows"]
        if r["policy"] not in skip
        and (r["policy"].startswith(BANDIT_PREFIX) or r["policy"].startswith("Stable-Baselines3"))
    ]
    bad = sorted({(r["seed"], r["steps"]) for r in peers} - {(s, steps) for s in seeds})
    if bad:
        raise ValueError(f"--reuse rows have (seed, steps) {bad}, this run {seeds} and {steps}")
    return [{**r, "reused": True} for r in peers if r["seed"] in seeds]


# ----------------------------------------------------------------- tables
def _ms(values: list[float], fmt: str, signed: bool = False) -> str:
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{np.mean(values):{'+' if signed else ''}{fmt}} ± {sd:{fmt}}"


def inventory_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| policy | env steps | share of VI optimum | min over seeds | training s |",
        "|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["policy"] for r in rows):
        sub = [r for r in rows if r["policy"] == name]
        shares = [r["share"] for r in sub]
        lines.append(
            f"| {name} | {sub[0]['steps']:,} | {_ms(shares, '.4f')} | {min(shares):.4f} | "
            f"{_ms([r['train_s'] for r in sub], '.0f')} |"
        )
    return "\n".join(lines)


def _best_bandit(rows: list[dict[str, Any]]) -> str | None:
    """The myopic bandit of highest mean episode reward over seeds (None without bandit rows)."""
    means = {
        r["policy"]: np.mean([q["episode_reward"] for q in rows if q["policy"] == r["policy"]])
        for r in rows
        if r["policy"].startswith(BANDIT_PREFIX)
    }
    return max(means, key=lambda k: means[k]) if means else None


def reference_table(result: dict[str, Any]) -> str:
    oracles: dict[str, float] = result["oracles"]
    rows = result["rows"]
    myopic = oracles["myopic oracle"]
    best_fixed = next(v for k, v in oracles.items() if k.startswith("best fixed"))
    best_bandit = _best_bandit(rows)
    bandit = (
        float(np.mean([r["episode_reward"] for r in rows if r["policy"] == best_bandit]))
        if best_bandit
        else float("nan")
    )
    lines = [
        "| policy | episode reward | vs myopic oracle | vs best fixed price | vs best myopic bandit "
        "| training s |",
        "|---|---|---|---|---|---|",
    ]
    for name, value in oracles.items():
        lines.append(
            f"| {name} | {value:.2f} | {100 * (value / myopic - 1):+.2f}% | "
            f"{100 * (value / best_fixed - 1):+.2f}% | {100 * (value / bandit - 1):+.2f}% | — |"
        )
    for name in dict.fromkeys(r["policy"] for r in rows):
        sub = [r for r in rows if r["policy"] == name]
        vals = [r["episode_reward"] for r in sub]
        rel = [
            _ms([100 * (v / ref - 1) for v in vals], ".2f", signed=True) + "%"
            for ref in (myopic, best_fixed, bandit)
        ]
        seconds = _ms([r["train_s"] for r in sub], ".0f")
        label = f"{name} (best)" if name == best_bandit else name
        if any(r.get("reused") for r in sub):
            label += " [reused]"
        lines.append(f"| {label} | {_ms(vals, '.2f')} | {' | '.join(rel)} | {seconds} |")
    return "\n".join(lines)


def paired_lines(result: dict[str, Any], policy: str = "dqn (ours)") -> str:
    """``policy`` against each other learner trained on the same seed: mean ± sd of the per-seed gain."""
    rows = result["rows"]
    mine = {r["seed"]: r["episode_reward"] for r in rows if r["policy"] == policy}
    out = []
    for name in dict.fromkeys(r["policy"] for r in rows):
        if name == policy:
            continue
        theirs = {r["seed"]: r["episode_reward"] for r in rows if r["policy"] == name}
        gains = [100 * (mine[s] / theirs[s] - 1) for s in mine if s in theirs]
        if gains:
            out.append(
                f"- {policy} vs {name}, same training seed: {_ms(gains, '.2f', signed=True)}% "
                f"(min {min(gains):+.2f}%)"
            )
    return "\n".join(out)


def _dqn_config(changes: list[str]) -> DQNConfig:
    """``REFERENCE_DQN`` with ``FIELD=VALUE`` changes (values are Python literals)."""
    fields: dict[str, Any] = {}
    for change in changes:
        name, sep, value = change.partition("=")
        if not sep:
            raise ValueError(f"--dqn-changes takes FIELD=VALUE items, got {change!r}")
        try:
            fields[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError) as err:
            raise ValueError(f"--dqn-changes {change!r}: {value!r} is not a Python literal") from err
    return DQNConfig(**{**asdict(REFERENCE_DQN), **fields})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--seeds", default="0,1,2", help="training seeds, comma-separated")
    parser.add_argument("--inventory-dqn-steps", type=int, default=30_000)
    parser.add_argument("--tabular-steps", type=int, default=200_000)
    parser.add_argument("--reference-steps", type=int, default=50_000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--eval-seed", type=int, default=100_000, help="first evaluation episode's seed")
    parser.add_argument("--skip-inventory", action="store_true")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--no-sb3", action="store_true", help="leave Stable-Baselines3 out")
    parser.add_argument("--no-myopic-dqn", action="store_true", help="leave our DQN's gamma = 0 twin out")
    parser.add_argument(
        "--bandits",
        default=",".join(MYOPIC_BANDITS),
        help="myopic contextual bandits to train on the reference-price market ('' for none)",
    )
    parser.add_argument(
        "--reference-changes",
        default="",
        help="changes to the reference-price preset, e.g. 'loss_aversion=4,gain_seeking=2'",
    )
    parser.add_argument(
        "--reuse",
        help="JSON record of an earlier run (same seeds, episodes, steps, changes): add its "
        "Stable-Baselines3 and myopic-bandit rows for the peers not run now (use with --no-sb3 --bandits '')",
    )
    parser.add_argument(
        "--dqn-changes",
        nargs="*",
        default=[],
        metavar="FIELD=VALUE",
        help="changes to our reference-price DQN's settings (REFERENCE_DQN), Python literals, e.g. "
        "n_steps=3 'hidden_sizes=(64,)' reference_feature=None (for ablations)",
    )
    parser.add_argument("--json", help="also write every row to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    eval_seeds = list(range(args.eval_seed, args.eval_seed + args.eval_episodes))
    print("command: python " + " ".join(sys.argv if argv is None else ["benchmarks/rl_dynamic.py", *argv]))
    record: dict[str, Any] = {"seeds": seeds, "version": pricepilot.__version__}
    start = time.perf_counter()
    if not args.skip_inventory:
        record["inventory"] = inventory(seeds, args.inventory_dqn_steps, args.tabular_steps)
        print(
            "\n(a) inventory-small season, greedy policy valued exactly on the tabular MDP "
            f"(mean ± sd over seeds {args.seeds})\n"
        )
        print(inventory_table(record["inventory"]))
    if not args.skip_reference:
        changes: dict[str, Any] = {
            k: float(v) for k, v in (kv.split("=") for kv in args.reference_changes.split(",") if kv)
        }
        bandits = tuple(b for b in args.bandits.split(",") if b)
        reuse = None
        if args.reuse:
            with open(args.reuse) as fh:
                reuse = json.load(fh)["reference"]
        record["reference"] = reference(
            seeds,
            args.reference_steps,
            eval_seeds,
            not args.no_sb3,
            changes,
            bandits,
            reuse,
            not args.no_myopic_dqn,
            _dqn_config(args.dqn_changes),
        )
        print(
            f"\n(b) reference-price market{' with ' + args.reference_changes if changes else ''}, "
            f"expected reward per {args.eval_episodes} held-out episodes of "
            f"100 visits (seeds {eval_seeds[0]}..{eval_seeds[-1]}); learners: mean ± sd over training "
            f"seeds {args.seeds}, {args.reference_steps:,} env steps each\n"
        )
        print(reference_table(record["reference"]))
        print()
        print(paired_lines(record["reference"]))
    print(f"\ntotal wall time {time.perf_counter() - start:.0f}s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(record, fh, indent=2, default=float)


if __name__ == "__main__":
    main()
