"""circulation index; one index fewer per signed URL

Circulation walks a project's active assets in id order: (project_id, status, id) serves it
without sorting the whole project for each page. An asset's URL issues are found through
(asset_id, created_at, id), so the asset_id index alone only cost every signed URL a write.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 15:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assets_project_status_id", ["project_id", "status", "id"], unique=False
        )
    with op.batch_alter_table("signed_url_issues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signed_url_issues_asset_id"))


def downgrade() -> None:
    with op.batch_alter_table("signed_url_issues", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signed_url_issues_asset_id"), ["asset_id"], unique=False
        )
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_index("ix_assets_project_status_id")
