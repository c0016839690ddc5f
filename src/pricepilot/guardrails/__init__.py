"""Guardrails and pricing law, applied last to every price (see DESIGN.md, "Guardrails").

Rules, per row of a batch, for an item with list price ``L``, unit cost ``C`` and last served price ``P``
(the last price served on an earlier day; ``L`` when the item has none):

* cost floor: price >= ``C + max(min_margin * C, min_margin_absolute)``;
* ceiling: price <= ``ceiling_multiple * L``;
* maximum discount: price >= ``(1 - max_discount) * L``;
* maximum daily change: ``|price / P - 1| <= max_daily_change``.

When rules conflict, the weaker one gives way, in this order (strongest first): ceiling and maximum
discount (both relative to list price, the law), then the cost floor, then the daily change; the row is
flagged ``CONFLICT``. Visitors who opt out get the non-personalised price (a configured ladder action or
the list price), clipped like any other. Protected attributes are removed from the context before the
policy sees it (:meth:`Guardrails.strip_protected`). Each item's lowest price of the last
``reference_window_days`` days (before the day of the offer) is kept in a :class:`PriceHistory`, and the
discount shown is measured against it (EU Omnibus directive style).
"""

from __future__ import annotations

from pricepilot.guardrails.history import PriceHistory
from pricepilot.guardrails.rules import GuardedDecision, GuardrailConfig, Guardrails, Intervention, explain

__all__ = ["GuardedDecision", "GuardrailConfig", "Guardrails", "Intervention", "PriceHistory", "explain"]
