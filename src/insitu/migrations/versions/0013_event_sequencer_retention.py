"""event sequencers found by age, to forget those no event can follow any more

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 20:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("event_sequencers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_sequencers_updated_at"), ["updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("event_sequencers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_sequencers_updated_at"))
