"""Leave-last-out recommendation: popularity, our ALS, implicit's ALS and SASRec on one split.

Each user's last interaction (by timestamp; ties by file order) is held out; every model is fitted on
the rest and ranks all items for every tested user. Reports Recall@10 and NDCG@10 and fit seconds.
Where seen items stay rankable (Ta-Feng), repeat-purchase baselines run too: the user's own items by
count, then popularity (own weight 1), and an even mixture of own purchase shares and popularity (0.5).

    .venv/bin/python benchmarks/recommend_leave_last_out.py --dataset movielens_100k \\
        --data ../shared/data/movielens_100k --json benchmarks/results/recommend/movielens_100k.json
    .venv/bin/python benchmarks/recommend_leave_last_out.py --dataset ta_feng \\
        --data ../shared/data/ta_feng --max-users 5000 --json benchmarks/results/recommend/ta_feng.json

``--text`` (MovieLens) adds SASRec with text embeddings of the films' titles and genres;
``--models`` runs a subset (names as in the table).

MovieLens excludes items the user already rated (nobody rates a film twice); Ta-Feng keeps them,
since grocery shoppers re-buy (``--exclude-seen``/``--keep-seen`` override).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pricepilot.data.datasets import load_movielens_100k, load_ta_feng
from pricepilot.recommend import (
    ALS,
    ALSConfig,
    ImplicitALS,
    ImplicitALSConfig,
    Interactions,
    Popularity,
    Recommender,
    RepeatBuy,
    RepeatBuyConfig,
    evaluate,
    implicit_available,
    leave_last_out,
)
from pricepilot.recommend.sasrec import SASRec, SASRecConfig
from pricepilot.recommend.text import TextEmbedder, TextEmbedderConfig

TEXT_CACHE = Path.home() / ".cache" / "pricepilot" / "text"


def load_frame(
    dataset: str, data: str, max_users: int | None, min_item_count: int, seed: int
) -> pd.DataFrame:
    """The interactions as a frame with ``user``, ``item``, ``time`` columns, in file order."""
    if dataset == "movielens_100k":
        r = load_movielens_100k(data).ratings
        frame = pd.DataFrame({"user": r["user_id"], "item": r["movie_id"], "time": r["timestamp"]})
    elif dataset == "ta_feng":
        t = load_ta_feng(data)
        frame = pd.DataFrame({"user": t["customer_id"], "item": t["product_id"], "time": t["date"]})
    else:
        raise ValueError(f"unknown dataset {dataset!r}: use movielens_100k or ta_feng")
    if min_item_count > 1:
        counts = frame["item"].value_counts()
        frame = frame[frame["item"].isin(counts.index[counts >= min_item_count])]
    if max_users is not None:
        users = frame["user"].unique()
        if users.size > max_users:
            rng = np.random.default_rng(seed)
            frame = frame[frame["user"].isin(rng.choice(users, max_users, replace=False))]
    return frame.reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=["movielens_100k", "ta_feng"], required=True)
    parser.add_argument("--data", required=True, help="the data set's folder")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-users", type=int, default=None, help="random subsample of users")
    parser.add_argument("--min-item-count", type=int, default=1, help="drop rarer items before splitting")
    parser.add_argument("--epochs", type=int, default=20, help="SASRec epochs")
    parser.add_argument("--blocks", type=int, default=1, help="SASRec self-attention blocks")
    parser.add_argument("--lr", type=float, default=2e-3, help="SASRec Adam learning rate")
    parser.add_argument("--sasrec-loss", choices=["ce", "bce"], default="ce")
    parser.add_argument(
        "--text",
        action="store_true",
        help="MovieLens: add SASRec with title + genre embeddings (see recommend_cold_items.py)",
    )
    parser.add_argument("--id-dropout", type=float, default=0.3, help="text SASRec's id dropout")
    parser.add_argument("--models", default=None, help="comma-separated subset of the model names")
    seen = parser.add_mutually_exclusive_group()
    seen.add_argument("--exclude-seen", dest="exclude_seen", action="store_true", default=None)
    seen.add_argument("--keep-seen", dest="exclude_seen", action="store_false")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    exclude_seen = args.exclude_seen if args.exclude_seen is not None else args.dataset == "movielens_100k"

    frame = load_frame(args.dataset, args.data, args.max_users, args.min_item_count, args.seed)
    interactions, _, item_ids = Interactions.from_frame(frame, "user", "item", "time")
    split = leave_last_out(interactions)
    print(
        f"{args.dataset}: {interactions.n:,} interactions, {interactions.n_users:,} users, "
        f"{interactions.n_items:,} items; {split.users.size:,} users tested; exclude_seen={exclude_seen}"
    )
    als_cfg = ALSConfig(factors=64, regularization=0.05, alpha=2.0, iterations=15, seed=args.seed)
    peer_cfg = ImplicitALSConfig(**dataclasses.asdict(als_cfg))
    sas_cfg = SASRecConfig(
        epochs=args.epochs,
        blocks=args.blocks,
        lr=args.lr,
        batch_size=256,
        seed=args.seed,
        loss=args.sasrec_loss,
    )
    models: dict[str, tuple[Recommender, dict[str, Any]]] = {
        "popularity": (Popularity(), {}),
    }
    if not exclude_seen:  # with seen items excluded it is popularity again
        for weight in (1.0, 0.5):
            repeat_cfg = RepeatBuyConfig(own_weight=weight)
            models[f"repeat buy (own weight {weight:g})"] = (
                RepeatBuy(repeat_cfg),
                dataclasses.asdict(repeat_cfg),
            )
    models["als (ours)"] = (ALS(als_cfg), dataclasses.asdict(als_cfg))
    if implicit_available():
        models["implicit ALS"] = (ImplicitALS(peer_cfg), dataclasses.asdict(peer_cfg))
    else:
        print("implicit is not installed: skipping its ALS (pip install 'pricepilot[peers]')")
    models["sasrec"] = (SASRec(sas_cfg), dataclasses.asdict(sas_cfg))
    if args.text:
        if args.dataset != "movielens_100k":
            raise SystemExit("--text needs item titles: only movielens_100k has them")
        from recommend_cold_items import film_texts

        texts = film_texts(load_movielens_100k(args.data).items, item_ids, genres=True)
        text_cfg = dataclasses.replace(sas_cfg, id_dropout=args.id_dropout)
        item_text = TextEmbedder(TextEmbedderConfig(cache_dir=TEXT_CACHE)).embed(texts)
        models["sasrec + text"] = (SASRec(text_cfg, item_text=item_text), dataclasses.asdict(text_cfg))
    if args.models is not None:
        wanted = {m.strip() for m in args.models.split(",")}
        models = {name: spec for name, spec in models.items() if name in wanted}

    rows: list[dict[str, Any]] = []
    print(f"| model | Recall@{args.k} | NDCG@{args.k} | fit seconds |")
    print("| --- | ---: | ---: | ---: |")
    for name, (model, config) in models.items():
        start = time.perf_counter()
        model.fit(split.train)
        fit_s = time.perf_counter() - start
        res = evaluate(model, split, k=args.k, exclude_seen=exclude_seen)
        print(f"| {name} | {res.recall:.4f} | {res.ndcg:.4f} | {fit_s:.1f} |", flush=True)
        rows.append({"model": name, "recall": res.recall, "ndcg": res.ndcg, "fit_s": fit_s, "config": config})
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "dataset": args.dataset,
            "k": args.k,
            "seed": args.seed,
            "max_users": args.max_users,
            "min_item_count": args.min_item_count,
            "exclude_seen": exclude_seen,
            "n_interactions": interactions.n,
            "n_users": interactions.n_users,
            "n_items": interactions.n_items,
            "n_tested": int(split.users.size),
            "results": rows,
        }
        args.json.write_text(json.dumps(record, indent=2, default=str))


if __name__ == "__main__":
    main()
