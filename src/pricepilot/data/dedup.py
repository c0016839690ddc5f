"""De-duplication of events: by event id, then by content (the same event sent twice under two ids).

The first occurrence is kept; every other copy is counted in the report (``duplicate_event_id``,
``duplicate_content``), with the source rows of the first few.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pricepilot.data.cleaning import CleaningReport, report_from_masks
from pricepilot.data.events import CONTENT_FIELDS, EventBatch


def deduplicate(events: EventBatch, by_content: bool = True) -> tuple[EventBatch, CleaningReport]:
    """The events without repeats, and the report of the copies removed.

    Parameters
    ----------
    events : the batch to de-duplicate
    by_content : also drop an event whose content (every field of ``CONTENT_FIELDS``) equals an
        earlier event's under another id

    Returns
    -------
    (batch in the original order, first occurrences only; report)
    """
    by_id = pd.Series(events.event_id).duplicated(keep="first").to_numpy()
    masks = {"duplicate_event_id": by_id}
    if by_content:
        content = pd.DataFrame({f: getattr(events, f) for f in CONTENT_FIELDS})
        # a copy by id is already gone; only among the survivors can content repeat under a new id
        survivors = content.loc[~by_id]
        repeated = np.zeros(events.n, dtype=bool)
        repeated[np.flatnonzero(~by_id)[survivors.duplicated(keep="first").to_numpy()]] = True
        masks["duplicate_content"] = repeated
    keep, report = report_from_masks(events.n, masks, events.source_row)
    return events.take(keep), report
