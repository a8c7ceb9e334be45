"""azure tenants: the tenants an org connected, and the consent states already redeemed

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 21:36:50.536793
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "azure_consent_states",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_azure_consent_states_org_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_azure_consent_states")),
    )
    with op.batch_alter_table("azure_consent_states", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_azure_consent_states_org_id"), ["org_id"], unique=False
        )

    op.create_table(
        "azure_tenants",
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("how", sa.String(length=16), nullable=False),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_azure_tenants_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_azure_tenants")),
        sa.UniqueConstraint("org_id", "tenant_id", name=op.f("uq_azure_tenants_org_id_tenant_id")),
    )
    with op.batch_alter_table("azure_tenants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_azure_tenants_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("azure_tenants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_azure_tenants_org_id"))
    op.drop_table("azure_tenants")
    with op.batch_alter_table("azure_consent_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_azure_consent_states_org_id"))
    op.drop_table("azure_consent_states")
