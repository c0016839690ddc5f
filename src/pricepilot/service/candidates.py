"""Candidates for a request that names none: the catalogue's most popular items, refreshed periodically.

Popularity is the number of ``purchase`` events stored per catalogued item
(:meth:`pricepilot.store.catalog.ItemCatalog.popular`), the recommender's popularity baseline computed
in the store. The ranking and the items are cached and recomputed every ``refresh_seconds`` (and at
once in the worker that changes the catalogue), so a request does not scan the event log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy.engine import Engine

from pricepilot.service.errors import FieldError
from pricepilot.service.schemas import Candidate, OfferRequest
from pricepilot.store.catalog import CatalogItem, ItemCatalog


class CandidateSource:
    """The top items of the catalogue by purchases, at most ``max_k`` of them, cached for
    ``refresh_seconds`` (``clock`` gives seconds, monotonic)."""

    def __init__(
        self,
        engine: Engine,
        max_k: int = 100,
        refresh_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_k < 1 or not refresh_seconds >= 0:
            raise ValueError(f"need max_k >= 1 and refresh_seconds >= 0, got {max_k} and {refresh_seconds}")
        self.catalog = ItemCatalog(engine)
        self.max_k = max_k
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._ranked: list[CatalogItem] = []
        self._at: float | None = None

    def invalidate(self) -> None:
        """Recompute the ranking at the next request (after the catalogue changed)."""
        with self._lock:
            self._at = None

    def top(self, k: int) -> list[CatalogItem]:
        """The ``k`` most popular catalogued items (fewer when the catalogue is smaller)."""
        with self._lock:
            now = self.clock()
            if self._at is None or now - self._at >= self.refresh_seconds:
                ids = [item_id for item_id, _ in self.catalog.popular(self.max_k)]
                self._ranked = self.catalog.get(ids)
                self._at = now
            return self._ranked[:k]

    def fill(self, request: OfferRequest) -> OfferRequest:
        """``request`` itself when it names candidates; else a copy with the top ``request.k`` items.

        Raises
        ------
        FieldError
            When it names none and the catalogue is empty (a 422 on ``candidates``).
        """
        if request.candidates:
            return request
        chosen = self.top(request.k)
        if not chosen:
            raise FieldError(
                ("candidates",),
                "no candidates given and the item catalogue is empty: name the candidates, or load the "
                "catalogue with PUT /v1/items",
            )
        candidates = [
            Candidate(
                item_id=i.item_id, list_price=i.list_price, unit_cost=i.unit_cost, features=dict(i.features)
            )
            for i in chosen
        ]
        return request.model_copy(update={"candidates": candidates})
