from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from insitu.cli.common import console, id_column, session, settings
from insitu.organizations import endpoints
from insitu.organizations import service as organizations

app = typer.Typer(help="Organizations and their API keys.", no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The organization's name.")],
    self_host_default: Annotated[
        bool, typer.Option(help="New projects are self-hosted unless they say otherwise.")
    ] = True,
) -> None:
    """Create an organization and print its first API key (shown only once)."""
    with session() as db_session:
        org, key = organizations.create(
            db_session, name=name, settings=settings(), self_host_default=self_host_default
        )
    console.print(f"Organization [bold]{org.name}[/] created: {org.id}")
    console.print(f"API key (shown once, keep it secret): [bold green]{key}[/]")


@app.command("list")
def list_orgs() -> None:
    """List organizations."""
    table = Table(id_column(), "name", "self_host_default", "created")
    with session() as db_session:
        for org in organizations.list_all(db_session):
            table.add_row(
                org.id, org.name, str(org.self_host_default), f"{org.created_at:%Y-%m-%d}"
            )
    console.print(table)


@app.command("key")
def new_key(
    org_id: Annotated[str, typer.Option("--org", help="Organization ID.")],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "cli",
) -> None:
    """Create another API key for an organization."""
    with session() as db_session:
        org = organizations.get(db_session, org_id=org_id)
        key = organizations.create_api_key(db_session, org=org, name=name)
    console.print(f"API key (shown once, keep it secret): [bold green]{key}[/]")


@app.command("allow-endpoint")
def allow_endpoint(
    org_id: Annotated[str, typer.Argument(help="Organization ID.")],
    endpoint: Annotated[str, typer.Argument(help="HOST, HOST:PORT or a CIDR network.")],
) -> None:
    """Let one organization's connections use a private endpoint (e.g. its on-prem MinIO)."""
    with session() as db_session:
        org = organizations.get(db_session, org_id=org_id)
        grant = endpoints.grant(db_session, org=org, endpoint=endpoint)
        granted = grant.endpoint
    console.print(f"Organization {org_id} may now use the private endpoint [bold]{granted}[/]")


@app.command("endpoints")
def list_endpoints(
    org_id: Annotated[str, typer.Argument(help="Organization ID.")],
) -> None:
    """List the private endpoints granted to one organization."""
    table = Table("endpoint", "granted")
    with session() as db_session:
        org = organizations.get(db_session, org_id=org_id)
        for grant in endpoints.list_for_org(db_session, org=org):
            table.add_row(grant.endpoint, f"{grant.created_at:%Y-%m-%d %H:%M}")
    console.print(table)


@app.command("revoke-endpoint")
def revoke_endpoint(
    org_id: Annotated[str, typer.Argument(help="Organization ID.")],
    endpoint: Annotated[str, typer.Argument(help="The HOST, HOST:PORT or CIDR granted.")],
) -> None:
    """Take a private endpoint away from an organization.

    Its connections to the endpoint are refused when next opened: running servers and workers
    open their stores again within a minute.
    """
    with session() as db_session:
        org = organizations.get(db_session, org_id=org_id)
        grant = endpoints.revoke(db_session, org=org, endpoint=endpoint)
        revoked = grant.endpoint
    console.print(f"Organization {org_id} may no longer use [bold]{revoked}[/]")
    console.print(
        "Running servers and workers stop using it within a minute (restart them to cut it now)."
    )
