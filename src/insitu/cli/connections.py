"""``insitu connections``: an organization's connections and their access health."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from insitu.cli.common import console, id_column, pick_org, session, settings
from insitu.connections import service as connections
from insitu.connections.schemas import ConnectionRead

app = typer.Typer(help="Connections and their access health: list, show.", no_args_is_help=True)

OrgOption = Annotated[str | None, typer.Option("--org", help="Organization ID (if several).")]
_COLOURS = {"ok": "green", "degraded": "yellow", "failing": "bold red"}


@app.command("list")
def list_connections(org: OrgOption = None) -> None:
    """List the organization's connections, newest first, with their health."""
    table = Table(id_column(), "name", "provider", "health", "since", "failing check")
    with session() as db_session:
        chosen = pick_org(db_session, org)
        rows = [
            connections.read(connection, settings=settings())
            for connection in connections.list_for_org(db_session, org=chosen)
        ]
    for shown in rows:
        health = shown.health
        table.add_row(
            shown.id,
            shown.name,
            shown.provider,
            _status(shown),
            _when(health.since if health else None),
            (health.check or "") if health else "",
        )
    console.print(table)


@app.command("show")
def show_connection(connection_id: str) -> None:
    """One connection: its settings, its last verify and its health with the fix."""
    with session() as db_session:
        connection = connections.get_any(db_session, connection_id=connection_id)
        shown = connections.read(connection, settings=settings())
    console.print(f"Connection [bold]{shown.id}[/] {shown.name} ({shown.provider})")
    console.print_json(data=shown.settings)
    health = shown.health
    console.print(f"Health: {_status(shown)}", highlight=False)
    if health is not None:
        console.print(f"  since {_when(health.since)}, checked {_when(health.checked_at)}")
        if health.check:
            console.print(f"  check: {health.check}", highlight=False)
        if health.fix:
            console.print(f"  [bold]Fix:[/] {health.fix}", highlight=False)
    if shown.last_verify is not None:
        last = shown.last_verify
        console.print(
            f"Last verify: {last.status} at {_when(last.at)} on {last.source}", highlight=False
        )


def _status(shown: ConnectionRead) -> str:
    if shown.health is None:
        return "not checked"
    status = shown.health.status
    return f"[{_COLOURS[status]}]{status}[/]"


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else ""
