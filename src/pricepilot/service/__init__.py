"""The HTTP service: ``create_app(settings)`` builds a FastAPI app on a store (see DESIGN.md).

Routes: ``POST /v1/offers``, ``POST /v1/events``, ``/v1/policies`` (list, register, promote,
rollback), ``/healthz``, ``/readyz``, ``/metrics``; OpenAPI docs at ``/docs``. Keys come from
:func:`create_key` (``pricepilot keys create``).
"""

from pricepilot.service.app import create_app
from pricepilot.service.auth import SCOPES, create_key
from pricepilot.service.settings import Settings, load_settings
from pricepilot.service.state import build_artifact

__all__ = ["SCOPES", "Settings", "build_artifact", "create_app", "create_key", "load_settings"]
