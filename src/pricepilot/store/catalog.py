"""The item catalogue: what the shop sells (list price, unit cost, numeric features), and its popularity.

The service prices items from here when a request names no candidates (see
:mod:`pricepilot.service.candidates`). An item is replaced whole by :meth:`ItemCatalog.upsert`; items
are never deleted (a shop stops offering one by leaving it out of its requests, or repricing it).
Popularity counts the ``purchase`` events stored for each catalogued item.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from pricepilot.store.engine import StoreError, utcnow
from pricepilot.store.schema import events, items

CHUNK = 500


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """An item of the catalogue.

    Attributes
    ----------
    item_id : int >= 0
    list_price : float > 0, in the item's currency; unit_cost : float >= 0, same currency
    features : mapping of feature name to finite float (what a policy may read about the item)
    """

    item_id: int
    list_price: float
    unit_cost: float
    features: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        who = f"item {self.item_id!r}"
        if isinstance(self.item_id, bool) or not isinstance(self.item_id, int) or self.item_id < 0:
            raise StoreError(f"item_id must be an int >= 0, got {self.item_id!r}")
        if not (math.isfinite(self.list_price) and self.list_price > 0):
            raise StoreError(f"{who}: list_price must be a finite number > 0, got {self.list_price}")
        if not (math.isfinite(self.unit_cost) and self.unit_cost >= 0):
            raise StoreError(f"{who}: unit_cost must be a finite number >= 0, got {self.unit_cost}")
        bad = [name for name, value in self.features.items() if not math.isfinite(value)]
        if bad:
            raise StoreError(
                f"{who}: feature {bad[0]!r} must be a finite number, got {self.features[bad[0]]}"
            )
        object.__setattr__(self, "list_price", float(self.list_price))
        object.__setattr__(self, "unit_cost", float(self.unit_cost))
        object.__setattr__(self, "features", {str(k): float(v) for k, v in self.features.items()})


class ItemCatalog:
    """Items by id, on an engine whose schema is up to date."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def upsert(self, batch: Sequence[CatalogItem]) -> int:
        """Insert the items of ``batch``, replacing stored items with the same id, in one transaction;
        return how many rows were written (an id repeated in ``batch``: its last version stands)."""
        now = utcnow()
        latest = {item.item_id: item for item in batch}
        rows = [
            {
                "item_id": item.item_id,
                "list_price": item.list_price,
                "unit_cost": item.unit_cost,
                "features": dict(item.features),
                "updated_at": now,
            }
            for item in latest.values()
        ]
        if not rows:
            return 0
        with self.engine.begin() as conn:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            stmt = insert(items)
            stmt = stmt.on_conflict_do_update(
                index_elements=[items.c.item_id],
                set_={
                    name: stmt.excluded[name]
                    for name in ("list_price", "unit_cost", "features", "updated_at")
                },
            )
            for start in range(0, len(rows), CHUNK):
                conn.execute(stmt, rows[start : start + CHUNK])
        return len(rows)

    def get(self, item_ids: Sequence[int]) -> list[CatalogItem]:
        """The catalogued items among ``item_ids``, in that order (unknown ids are left out)."""
        found: dict[int, CatalogItem] = {}
        ids = list(dict.fromkeys(int(i) for i in item_ids))
        with self.engine.connect() as conn:
            for start in range(0, len(ids), CHUNK):
                query = select(items).where(items.c.item_id.in_(ids[start : start + CHUNK]))
                for r in conn.execute(query).mappings():
                    found[int(r["item_id"])] = CatalogItem(
                        int(r["item_id"]), float(r["list_price"]), float(r["unit_cost"]), dict(r["features"])
                    )
        return [found[i] for i in ids if i in found]

    def count(self) -> int:
        """Number of catalogued items."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(items)).scalar_one())

    def popular(self, k: int) -> list[tuple[int, int]]:
        """The ``k`` catalogued items bought most often, as ``(item_id, purchase events)``, most bought
        first; ties, and items never bought, follow in item id order."""
        if k < 1:
            raise StoreError(f"k must be >= 1, got {k}")
        bought = func.count(events.c.position)
        query = (
            select(items.c.item_id, bought)
            .select_from(
                items.outerjoin(
                    events, and_(events.c.item_id == items.c.item_id, events.c.kind == "purchase")
                )
            )
            .group_by(items.c.item_id)
            .order_by(bought.desc(), items.c.item_id)
            .limit(k)
        )
        with self.engine.connect() as conn:
            return [(int(i), int(n)) for i, n in conn.execute(query)]
