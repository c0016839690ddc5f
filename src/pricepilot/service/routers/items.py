"""``PUT /v1/items``: insert or replace items of the catalogue that requests without candidates draw on."""

from __future__ import annotations

from fastapi import APIRouter

from pricepilot.service.deps import AdminKey, ServicesDep
from pricepilot.service.errors import AUTH_ERRORS, BODY_ERRORS
from pricepilot.service.schemas import ItemsRequest, ItemsResponse
from pricepilot.store.catalog import CatalogItem

router = APIRouter(prefix="/v1/items", tags=["items"], responses=AUTH_ERRORS | BODY_ERRORS)


@router.put("", response_model=ItemsResponse)
def put_items(body: ItemsRequest, services: ServicesDep, _key: AdminKey) -> ItemsResponse:
    """Insert the items, replacing whole any stored under the same ``item_id`` (one transaction).

    ``POST /v1/offers`` with no candidates prices the most bought of these items (purchase events);
    other workers see the change within their refresh period.
    """
    batch = [CatalogItem(i.item_id, i.list_price, i.unit_cost, i.features) for i in body.items]
    catalog = services.candidates.catalog
    stored = catalog.upsert(batch)
    services.candidates.invalidate()
    return ItemsResponse(received=len(batch), stored=stored, catalog_size=catalog.count())
