"""import parts may end at a key: one folder listed as several key ranges at once

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 20:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_parts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("import_parts", schema=None) as batch_op:
        batch_op.drop_column("last")
