"""circulation: who removed an asset, and each asset's history

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 11:11:52.168418
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "asset_events",
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_asset_events_asset_id_assets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_events")),
    )
    with op.batch_alter_table("asset_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_asset_events_asset_id"), ["asset_id"], unique=False)

    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("removed_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_column("removed_by")

    with op.batch_alter_table("asset_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_events_asset_id"))

    op.drop_table("asset_events")
