"""circulation: who removed an asset, each asset's history, reconcile jobs

Also indexes signed URL issues by org and time, as the audit log reads them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 11:26:04.370003
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
        "reconcile_jobs",
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("checked", sa.BigInteger(), nullable=False),
        sa.Column("unchanged", sa.BigInteger(), nullable=False),
        sa.Column("removed", sa.BigInteger(), nullable=False),
        sa.Column("changed", sa.BigInteger(), nullable=False),
        sa.Column("moved", sa.BigInteger(), nullable=False),
        sa.Column("restored", sa.BigInteger(), nullable=False),
        sa.Column("added", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("list_requests", sa.BigInteger(), nullable=False),
        sa.Column("read_requests", sa.BigInteger(), nullable=False),
        sa.Column("import_ids", sa.JSON(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_reconcile_jobs_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_reconcile_jobs_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_jobs")),
    )
    with op.batch_alter_table("reconcile_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reconcile_jobs_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_reconcile_jobs_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reconcile_jobs_status"), ["status"], unique=False)

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

    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("assets_withdrawn", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("removed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("content_hash", sa.String(length=100), nullable=True))

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("import_new_files", sa.Boolean(), server_default=sa.true(), nullable=False)
        )

    with op.batch_alter_table("signed_url_issues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signed_url_issues_org_id"))
        batch_op.create_index(
            "ix_signed_url_issues_org_id_created_at", ["org_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_column("assets_withdrawn")

    with op.batch_alter_table("signed_url_issues", schema=None) as batch_op:
        batch_op.drop_index("ix_signed_url_issues_org_id_created_at")
        batch_op.create_index(batch_op.f("ix_signed_url_issues_org_id"), ["org_id"], unique=False)

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("import_new_files")

    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_column("content_hash")
        batch_op.drop_column("removed_by")

    with op.batch_alter_table("asset_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_events_asset_id"))

    op.drop_table("asset_events")
    with op.batch_alter_table("reconcile_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconcile_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_reconcile_jobs_project_id"))
        batch_op.drop_index(batch_op.f("ix_reconcile_jobs_org_id"))

    op.drop_table("reconcile_jobs")
