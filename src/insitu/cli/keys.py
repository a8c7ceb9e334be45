"""``insitu keys``: an organization's API keys, managed by the operator on the server."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from insitu.cli.common import console, id_column, session
from insitu.errors import InvalidInput
from insitu.organizations import service as organizations

app = typer.Typer(help="An organization's API keys: list, create, revoke.", no_args_is_help=True)

OrgOption = Annotated[str, typer.Option("--org", help="Organization ID (insitu org list).")]


@app.command("list")
def list_keys(org_id: OrgOption) -> None:
    """List an organization's keys (never their secrets), revoked and expired ones included."""
    table = Table(id_column(), "name", "scope", "prefix", "created", "expires", "revoked")
    with session() as db_session:
        org = organizations.get(db_session, org_id=org_id)
        for key in organizations.list_api_keys(db_session, org=org):
            table.add_row(
                key.id,
                key.name,
                key.scope,
                key.prefix,
                _when(key.created_at),
                _when(key.expires_at),
                _when(key.revoked_at),
            )
    console.print(table)


@app.command("create")
def create_key(
    org_id: OrgOption,
    name: Annotated[str, typer.Option(help="A label for the key, e.g. the tool using it.")] = "cli",
    scope: Annotated[
        str, typer.Option(help="admin (everything in the org) or labeler (read assets only).")
    ] = organizations.ADMIN,
    expires: Annotated[
        str | None,
        typer.Option(help="When it stops working, ISO 8601 with a zone: 2030-01-01T00:00:00Z."),
    ] = None,
) -> None:
    """Create an API key and print it (shown only once)."""
    expires_at = _parse_time(expires) if expires else None
    with session() as db_session:
        org = organizations.get(db_session, org_id=org_id)
        api_key, secret = organizations.issue_api_key(
            db_session, org=org, name=name, scope=scope, expires_at=expires_at
        )
        key_id = api_key.id
    console.print(f"API key {key_id} ({scope}) created for organization {org_id}")
    console.print(f"Key (shown once, keep it secret): [bold green]{secret}[/]")


@app.command("revoke")
def revoke_key(
    org_id: OrgOption,
    key_id: Annotated[str, typer.Argument(help="The key's ID (insitu keys list).")],
    force: Annotated[
        bool, typer.Option(help="Revoke it even if it is the organization's last admin key.")
    ] = False,
) -> None:
    """Revoke an API key at once."""
    with session() as db_session:
        org = organizations.get(db_session, org_id=org_id)
        api_key = organizations.get_api_key(db_session, org=org, key_id=key_id)
        organizations.revoke_api_key(db_session, api_key=api_key, keep_last_admin=not force)
    console.print(f"API key {key_id} revoked; requests with it are refused from now on.")


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else ""


def _parse_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            f"--expires {text!r} is not an ISO 8601 time",
            fix="write it like 2030-01-01T00:00:00Z",
        ) from exc
