"""``insitu connections``: an organization's connections and their access health."""

from __future__ import annotations

import getpass
import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from insitu.audit.service import OPERATOR
from insitu.cli.common import console, id_column, pick_org, session, settings
from insitu.connections import health
from insitu.connections import service as connections
from insitu.connections.schemas import ConnectionRead, ConnectionUpdate, unusable_name
from insitu.errors import InvalidInput
from insitu.organizations import service as organizations
from insitu.storage.registry import get_provider

app = typer.Typer(
    help="Connections and their access health: list, show, update.", no_args_is_help=True
)

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
        state = shown.health
        table.add_row(
            shown.id,
            shown.name,
            shown.provider,
            _status(shown),
            _when(state.since if state else None),
            (state.check or "") if state else "",
        )
    console.print(table)


@app.command("show")
def show_connection(connection_id: str) -> None:
    """One connection: its settings, its last verify and its health with the fix."""
    with session() as db_session:
        connection = connections.get_any(db_session, connection_id=connection_id)
        shown = connections.read(connection, settings=settings())
    console.print(f"Connection [bold]{shown.id}[/] {shown.name} ({shown.provider})")
    _print_settings(shown)
    _print_health(shown)
    if shown.last_verify is not None:
        last = shown.last_verify
        console.print(
            f"Last verify: {last.status} at {_when(last.at)} on {last.source}", highlight=False
        )


@app.command("update")
def update_connection(
    connection_id: str,
    name: Annotated[str | None, typer.Option(help="A new name for the connection.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="A setting to change, e.g. --set region=eu-west-1 (repeat for several). "
            "A secret is given as KEY=- and read from standard input (one line each, in "
            "order; asked for without echo at a terminal), so it stays out of the shell's "
            "history and the process list.",
        ),
    ] = None,
    reset: Annotated[
        list[str] | None,
        typer.Option(
            "--reset", metavar="KEY", help="A setting to put back to its default (repeat)."
        ),
    ] = None,
) -> None:
    """Rename a connection, or change its settings in place (rotated keys, another role or
    region): its assets stay its own. Settings left out keep their value; stored keys are
    dropped when the endpoint or the mode changes. A connection in use has its access checked
    again at once."""
    # Secrets may be typed at a prompt: they are read with no session open, so a slow typist
    # holds no database connection or transaction meanwhile.
    with session() as db_session:
        provider = connections.get_any(db_session, connection_id=connection_id).provider
    secrets = get_provider(provider).config_model.secret_fields()
    data = _update(name, set_ or [], reset or [], secrets=secrets)
    with session() as db_session:
        connection = connections.get_any(db_session, connection_id=connection_id)
        org = organizations.get(db_session, org_id=connection.org_id)
        health.update_and_check(
            db_session, org=org, connection=connection, data=data, settings=settings(),
            actor=OPERATOR, operator=True,
        )  # fmt: skip
        shown = connections.read(connection, settings=settings())
    console.print(f"Connection [bold]{shown.id}[/] {shown.name} ({shown.provider}) updated:")
    _print_settings(shown)
    _print_health(shown)


def _update(
    name: str | None, assignments: list[str], reset: list[str], *, secrets: frozenset[str]
) -> ConnectionUpdate:
    changes: dict[str, Any] = dict.fromkeys(reset)
    for assignment in assignments:
        key, equals, value = assignment.partition("=")
        if not key or not equals:
            raise InvalidInput(
                f"--set {assignment!r} is not KEY=VALUE",
                fix="write it as --set region=eu-west-1; insitu connections show ID shows the "
                "settings",
            )
        if key in secrets and value != "-":
            raise InvalidInput(
                f"{key} is a secret: on the command line it would stay in the shell's history "
                "and show in the process list",
                fix=f"pass --set {key}=- and give the value on standard input, e.g. "
                f'printf %s "$SECRET" | insitu connections update ID --set {key}=-',
            )
        changes[key] = _read_value(key) if value == "-" else value
    if name is None and not changes:
        raise InvalidInput("nothing to change", fix="pass --name, --set KEY=VALUE or --reset KEY")
    try:
        return ConnectionUpdate(name=name, settings=changes or None)
    except ValidationError as exc:
        raise unusable_name(exc) from exc


def _read_value(key: str) -> str:
    """``key``'s value from standard input: asked for without echo at a terminal."""
    if sys.stdin.isatty():
        value = getpass.getpass(f"{key}: ")
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise InvalidInput(
            f"no value for {key} on standard input",
            fix=f'pipe it in: printf %s "$VALUE" | insitu connections update ID --set {key}=-',
        )
    return value


def _print_settings(shown: ConnectionRead) -> None:
    console.print_json(data=shown.settings)
    if shown.secrets_stored:
        stored = ", ".join(shown.secrets_stored)
        console.print(f"Secrets stored (encrypted, never shown): {stored}", highlight=False)


def _print_health(shown: ConnectionRead) -> None:
    state = shown.health
    console.print(f"Health: {_status(shown)}", highlight=False)
    if state is not None:
        console.print(f"  since {_when(state.since)}, checked {_when(state.checked_at)}")
        if state.check:
            console.print(f"  check: {state.check}", highlight=False)
        if state.fix:
            console.print(f"  [bold]Fix:[/] {state.fix}", highlight=False)


def _status(shown: ConnectionRead) -> str:
    if shown.health is None:
        return "not checked"
    status = shown.health.status
    return f"[{_COLOURS[status]}]{status}[/]"


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else ""
