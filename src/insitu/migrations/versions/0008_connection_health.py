"""connection health

Each connection in use records its access health (ok, degraded or failing), since when, the
failing check and its fix, and when it was last checked.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("health", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("health_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("health_check", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("health_fix", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("health_checked_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_column("health_checked_at")
        batch_op.drop_column("health_fix")
        batch_op.drop_column("health_check")
        batch_op.drop_column("health_since")
        batch_op.drop_column("health")
