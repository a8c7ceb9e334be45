"""connection last verify; indexes for newest-first lists

Each connection records its last Verify access (status, when, on what, the first failing
check and its fix). Lists page newest first on (parent, created_at, id); the assets index by
(project_id, status, created_at, id) replaces the one on (project_id, status), its prefix.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 13:21:56.169031
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assets_project_created", ["project_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_assets_project_status_created",
            ["project_id", "status", "created_at", "id"],
            unique=False,
        )
        batch_op.drop_index("ix_assets_project_id_status")

    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_verify_status", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("last_verified_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("last_verify_source", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("last_verify_check", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("last_verify_fix", sa.Text(), nullable=True))

    with op.batch_alter_table("import_failures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_import_failures_job_created", ["job_id", "created_at", "id"], unique=False
        )

    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_import_jobs_project_created", ["project_id", "created_at", "id"], unique=False
        )

    with op.batch_alter_table("signed_url_issues", schema=None) as batch_op:
        batch_op.create_index(
            "ix_signed_url_issues_asset_created", ["asset_id", "created_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("signed_url_issues", schema=None) as batch_op:
        batch_op.drop_index("ix_signed_url_issues_asset_created")

    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_import_jobs_project_created")

    with op.batch_alter_table("import_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_import_failures_job_created")

    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_column("last_verify_fix")
        batch_op.drop_column("last_verify_check")
        batch_op.drop_column("last_verify_source")
        batch_op.drop_column("last_verified_at")
        batch_op.drop_column("last_verify_status")

    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.create_index("ix_assets_project_id_status", ["project_id", "status"], unique=False)
        batch_op.drop_index("ix_assets_project_status_created")
        batch_op.drop_index("ix_assets_project_created")
