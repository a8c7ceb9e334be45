"""storage events: watched projects, per-key sequencers, queue leases

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 13:34:09.340629
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "event_leases",
        sa.Column("queue", sa.String(length=1024), nullable=False),
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events_applied", sa.BigInteger(), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_event_leases_connection_id_connections"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_leases")),
        sa.UniqueConstraint("queue", name=op.f("uq_event_leases_queue")),
    )
    with op.batch_alter_table("event_leases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_leases_connection_id"), ["connection_id"], unique=False
        )

    op.create_table(
        "event_sequencers",
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("sequencer", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_event_sequencers_connection_id_connections"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_sequencers")),
        sa.UniqueConstraint(
            "connection_id",
            "bucket",
            "key",
            name=op.f("uq_event_sequencers_connection_id_bucket_key"),
        ),
    )
    op.create_table(
        "project_watches",
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_project_watches_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_project_watches_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_watches")),
        sa.UniqueConstraint("project_id", name=op.f("uq_project_watches_project_id")),
    )
    with op.batch_alter_table("project_watches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_watches_org_id"), ["org_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("project_watches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_watches_org_id"))

    op.drop_table("project_watches")
    op.drop_table("event_sequencers")
    with op.batch_alter_table("event_leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_leases_connection_id"))

    op.drop_table("event_leases")
