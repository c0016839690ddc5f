"""Event kind ``offer_outcome``: an explicit outcome of a served offer (for one that was not bought).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

OLD_KINDS = ("view", "cart", "purchase", "review", "competitor_price", "quote")
NEW_KINDS = (*OLD_KINDS, "offer_outcome")


def _kinds(kinds: tuple[str, ...]) -> str:
    return "kind IN ('" + "', '".join(kinds) + "')"


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint(op.f("ck_events_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_events_kind"), _kinds(NEW_KINDS))


def downgrade() -> None:
    """Fails while ``offer_outcome`` events are stored (delete or keep them before downgrading)."""
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint(op.f("ck_events_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_events_kind"), _kinds(OLD_KINDS))
