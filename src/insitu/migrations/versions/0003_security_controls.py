"""security controls: key scopes and expiry, audit events, endpoint grants, one org per Azure tenant

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 11:07:00.023356

An Azure tenant now belongs to one organization. Where an older database recorded one tenant
on several orgs, the earliest claim keeps it and the later ones are dropped (logged): only the
operator may move a tenant between organizations.
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

log = logging.getLogger("alembic.runtime.migration")


revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("org_id", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=300), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_audit_events_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_events_org_id_created_at", ["org_id", "created_at"], unique=False
        )

    op.create_table(
        "endpoint_grants",
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("endpoint", sa.String(length=300), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_endpoint_grants_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_grants")),
        sa.UniqueConstraint("org_id", "endpoint", name=op.f("uq_endpoint_grants_org_id_endpoint")),
    )
    with op.batch_alter_table("endpoint_grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_endpoint_grants_org_id"), ["org_id"], unique=False)

    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scope", sa.String(length=16), server_default="admin", nullable=False)
        )
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))

    _drop_later_tenant_claims()
    with op.batch_alter_table("azure_tenants", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_azure_tenants_org_id_tenant_id"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_azure_tenants_tenant_id"), ["tenant_id"])

    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.create_index("ix_assets_connection_id_key", ["connection_id", "key"], unique=False)

    with op.batch_alter_table("signed_url_issues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_address", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("user_agent", sa.String(length=300), nullable=True))


def _drop_later_tenant_claims() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT id, org_id, tenant_id FROM azure_tenants ORDER BY consented_at, id")
    ).all()
    seen: set[str] = set()
    for row_id, org_id, tenant_id in rows:
        if tenant_id in seen:
            log.warning("Azure tenant %s was also claimed by org %s; dropped", tenant_id, org_id)
            connection.execute(sa.text("DELETE FROM azure_tenants WHERE id = :id"), {"id": row_id})
        seen.add(tenant_id)


def downgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_index("ix_assets_connection_id_key")

    with op.batch_alter_table("signed_url_issues", schema=None) as batch_op:
        batch_op.drop_column("user_agent")
        batch_op.drop_column("client_address")

    with op.batch_alter_table("azure_tenants", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_azure_tenants_tenant_id"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_azure_tenants_org_id_tenant_id"), ["org_id", "tenant_id"]
        )

    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("scope")

    with op.batch_alter_table("endpoint_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_endpoint_grants_org_id"))

    op.drop_table("endpoint_grants")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_org_id_created_at")

    op.drop_table("audit_events")
