"""``insitu azure``: the Azure tenants an organization connected, and how to connect more."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from insitu.azure import service as azure
from insitu.cli.common import console, pick_org, session, settings

app = typer.Typer(help="Connect Azure tenants to an organization.", no_args_is_help=True)
tenant_app = typer.Typer(help="The org's connected Azure tenants.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")

OrgOption = Annotated[str | None, typer.Option("--org", help="Organization ID (if several).")]


@app.command("connect")
def connect(org: OrgOption = None) -> None:
    """Print the sign-in-and-consent URL a tenant admin opens to connect the tenant."""
    with session() as db_session:
        link = azure.consent_link(pick_org(db_session, org), settings=settings())
    console.print(
        "Open this, sign in as an admin of the Azure tenant, tick 'Consent on behalf of your "
        "organization' and accept:"
    )
    console.print(link.url, highlight=False, soft_wrap=True)
    console.print(f"(valid until {link.expires_at:%Y-%m-%d %H:%M} UTC)")


@tenant_app.command("add")
def add_tenant(
    tenant_id: Annotated[str, typer.Argument(help="The tenant (directory) ID that consented.")],
    org: OrgOption = None,
) -> None:
    """Record a tenant whose admin consented to insitu's application out of band."""
    with session() as db_session:
        chosen = pick_org(db_session, org)
        row = azure.add_tenant(db_session, org=chosen, tenant_id=tenant_id)
        console.print(f"Tenant [bold]{row.tenant_id}[/] is connected to org {chosen.id}.")
    app_name = settings().azure_app_name
    console.print(
        f"Next: assign {app_name!r} Storage Blob Data Reader and Storage Blob Delegator on each "
        "storage account, then: insitu connect azure --account-url URL --tenant "
        f"{row.tenant_id}",
        highlight=False,
    )


@tenant_app.command("move")
def move_tenant(
    tenant_id: Annotated[str, typer.Argument(help="The tenant (directory) ID to move.")],
    to: Annotated[str, typer.Option("--to", help="The organization ID that gets the tenant.")],
) -> None:
    """Operator only: give a tenant to another organization (recorded in both audit logs).

    A tenant is connected to one organization at a time; its former organization's Azure
    connections on that tenant stop opening stores.
    """
    with session() as db_session:
        target = pick_org(db_session, to)
        before = azure.tenant_owner(db_session, tenant_id=tenant_id)
        row = azure.move_tenant(db_session, tenant_id=tenant_id, to_org=target)
    if before == target.id:
        console.print(f"Tenant [bold]{row.tenant_id}[/] is already connected to org {target.id}.")
        return
    console.print(
        f"Tenant [bold]{row.tenant_id}[/] moved from org {before} to org {target.id}.",
        highlight=False,
    )


@tenant_app.command("list")
def list_tenants(org: OrgOption = None) -> None:
    """List the org's connected tenants."""
    with session() as db_session:
        chosen = pick_org(db_session, org)
        rows = azure.list_tenants(db_session, org_id=chosen.id)
        table = Table("tenant", "how", "since")
        for row in rows:
            table.add_row(row.tenant_id, row.how, f"{row.consented_at:%Y-%m-%d %H:%M}")
    console.print(table)
