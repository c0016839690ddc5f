"""Prometheus metrics of one app, on its own registry (never the process-global one), so two apps in
one process (tests, a restart in place) count apart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, generate_latest


@dataclass
class Metrics:
    """Request latency per route, offers served, outcomes, reward and guardrail interventions."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.latency = Histogram(
            "pricepilot_request_seconds",
            "Request latency in seconds, by route, method and status.",
            ["route", "method", "status"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.offers = Counter("pricepilot_offers_served", "Offers served.", registry=r)
        self.outcomes = Counter(
            "pricepilot_outcomes", "Outcomes joined to their offers, by purchase.", ["purchased"], registry=r
        )
        self.reward = Summary(
            "pricepilot_outcome_reward", "Reward of each outcome (objective units).", registry=r
        )
        self.interventions = Counter(
            "pricepilot_guardrail_interventions",
            "Offers whose price a guardrail rule changed or set, by rule.",
            ["rule"],
            registry=r,
        )
        self.events = Counter("pricepilot_events_stored", "Events stored (duplicates excluded).", registry=r)

    def watch_journal(self, lag_bytes: Callable[[], float], importer_starts: Callable[[], float]) -> None:
        """Export the offer journal's import lag (bytes answered and not yet in the store) and how many
        times its importer was started (more than once: it stopped and was started again)."""
        lag = Gauge(
            "pricepilot_offer_journal_lag_bytes",
            "Bytes of answered offers appended to this worker's journal and not yet imported into the store.",
            registry=self.registry,
        )
        lag.set_function(lag_bytes)
        starts = Gauge(
            "pricepilot_offer_journal_importer_starts",
            "Times this worker started its offer journal's importer (1 in a healthy worker).",
            registry=self.registry,
        )
        starts.set_function(importer_starts)

    def render(self) -> bytes:
        """The text exposition format of every metric."""
        return generate_latest(self.registry)
