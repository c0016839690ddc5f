"""The item catalogue (``items``) and an index on ``outcomes.observed_at`` for the outcome feed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("item_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("list_price", sa.Float(), nullable=False),
        sa.Column("unit_cost", sa.Float(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("list_price > 0 AND unit_cost >= 0", name=op.f("ck_items_price")),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_items")),
    )
    op.create_index(op.f("ix_outcomes_observed_at"), "outcomes", ["observed_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_outcomes_observed_at"), table_name="outcomes")
    op.drop_table("items")
