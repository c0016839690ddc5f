"""Service settings: a frozen dataclass read from ``PRICEPILOT_*`` environment variables by a function.

Nothing is read at import time: :func:`load_settings` builds the settings when asked, so a test or the
CLI builds its own (``Settings(db_url=...)``) and passes it to ``create_app``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pricepilot.guardrails import GuardrailConfig
from pricepilot.recommend.rerank import RerankConfig
from pricepilot.store import DEFAULT_URL
from pricepilot.types import Objective

ENV_PREFIX = "PRICEPILOT_"


@dataclass(frozen=True, slots=True)
class Settings:
    """How the service runs.

    Attributes
    ----------
    db_url : str, SQLAlchemy URL of the store (a SQLite file by default, or ``postgresql://...``).
    policy_name : str, the registry name whose active version serves offers and learns online.
    objective : str, what a sale is worth (see :meth:`pricepilot.types.Objective.named`).
    guardrails : GuardrailConfig, the price rules applied to every offer.
    snapshot_every : int >= 1, outcomes between two snapshots of the live policy's state.
    max_body_bytes : int >= 1, largest request body accepted (413 above it).
    max_candidates, max_events : int >= 1, largest batch per request (422 above it).
    sync_seconds : float >= 0, seconds between two syncs of the live policy with the outcomes other
        workers recorded in the store (see :mod:`pricepilot.service.state`); 0 (the default): this
        process is the only worker and learns from the outcomes it receives, inline.
    rerank_blend : float in [0, 1], weight of the expected objective when ``POST /v1/offers`` orders
        its answer (see :attr:`rerank`; default 0.5): 0 keeps the candidates' order, 1 orders by
        expected objective alone.
    journal_offers : bool, on an SQLite file, answer offers once appended to this worker's journal
        and import them into the store from another process (default True; see
        :mod:`pricepilot.store.journal`); False: commit each group to the store before answering.
        Other stores always commit first.
    """

    db_url: str = DEFAULT_URL
    policy_name: str = "default"
    objective: str = "profit"
    guardrails: GuardrailConfig = field(default_factory=GuardrailConfig)
    snapshot_every: int = 100
    max_body_bytes: int = 1_000_000
    max_candidates: int = 100
    max_events: int = 1_000
    sync_seconds: float = 0.0
    rerank_blend: float = 0.5
    journal_offers: bool = True

    def __post_init__(self) -> None:
        Objective.named(self.objective)  # validates the objective's name
        for name in ("snapshot_every", "max_body_bytes", "max_candidates", "max_events"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Settings.{name} must be an int >= 1, got {value!r}")
        sync = self.sync_seconds
        if isinstance(sync, bool) or not isinstance(sync, int | float) or not 0 <= sync < float("inf"):
            raise ValueError(f"Settings.sync_seconds must be a finite number >= 0, got {sync!r}")
        blend = self.rerank_blend
        if isinstance(blend, bool) or not isinstance(blend, int | float) or not 0.0 <= blend <= 1.0:
            raise ValueError(f"Settings.rerank_blend must be a number in [0, 1], got {blend!r}")
        if not isinstance(self.journal_offers, bool):
            raise ValueError(f"Settings.journal_offers must be True or False, got {self.journal_offers!r}")
        if not self.policy_name or "@" in self.policy_name:
            raise ValueError(f"Settings.policy_name must be non-empty without '@', got {self.policy_name!r}")

    @property
    def objective_(self) -> Objective:
        """The objective as a record."""
        return Objective.named(self.objective)

    @property
    def rerank(self) -> RerankConfig:
        """How offers are ordered: ``rerank_blend`` of relevance and expected objective, the latter
        P(buy) x price when the objective weighs revenue and not profit, else P(buy) x margin."""
        obj = self.objective_
        kind: Literal["profit", "revenue"] = "revenue" if obj.revenue > 0 and obj.profit == 0 else "profit"
        return RerankConfig(blend=float(self.rerank_blend), objective=kind)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``PRICEPILOT_DB_URL``, ``PRICEPILOT_POLICY_NAME``, ``PRICEPILOT_OBJECTIVE``,
    ``PRICEPILOT_SNAPSHOT_EVERY``, ``PRICEPILOT_MAX_BODY_BYTES``, ``PRICEPILOT_SYNC_SECONDS``,
    ``PRICEPILOT_RERANK_BLEND``, ``PRICEPILOT_JOURNAL_OFFERS`` (``1``/``0``, ``true``/``false``;
    defaults where unset)."""
    env = os.environ if environ is None else environ
    values: dict[str, str | int | float | bool] = {}
    for name in ("db_url", "policy_name", "objective"):
        if (raw := env.get(ENV_PREFIX + name.upper())) is not None:
            values[name] = raw
    for name in ("snapshot_every", "max_body_bytes", "max_candidates", "max_events"):
        if (raw := env.get(ENV_PREFIX + name.upper())) is not None:
            try:
                values[name] = int(raw)
            except ValueError:
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must be an integer, got {raw!r}") from None
    for name in ("sync_seconds", "rerank_blend"):
        if (raw := env.get(ENV_PREFIX + name.upper())) is not None:
            try:
                values[name] = float(raw)
            except ValueError:
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must be a number, got {raw!r}") from None
    if (raw := env.get(ENV_PREFIX + "JOURNAL_OFFERS")) is not None:
        flag = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}.get(
            raw.lower()
        )
        if flag is None:
            raise ValueError(f"{ENV_PREFIX}JOURNAL_OFFERS must be 1 or 0 (true or false), got {raw!r}")
        values["journal_offers"] = flag
    return Settings(**values)  # type: ignore[arg-type]
