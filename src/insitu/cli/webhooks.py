"""``insitu webhooks``: an organization's webhook endpoints, managed by the operator."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from insitu.audit.service import OPERATOR
from insitu.cli.common import console, id_column, session, settings
from insitu.organizations import service as organizations
from insitu.webhooks import service as webhooks
from insitu.webhooks.schemas import WebhookCreate

app = typer.Typer(
    help="An organization's webhook endpoints: list, create, delete, deliveries.",
    no_args_is_help=True,
)

OrgOption = Annotated[str, typer.Option("--org", help="Organization ID (insitu org list).")]
WebhookArgument = Annotated[str, typer.Argument(help="The webhook's ID (insitu webhooks list).")]


@app.command("list")
def list_webhooks(org_id: OrgOption) -> None:
    """List an organization's endpoints (never their secrets)."""
    table = Table(id_column(), "url", "events", "created")
    with session() as db_session:
        org = organizations.get(db_session, org_id=org_id)
        for endpoint in webhooks.list_for_org(db_session, org=org):
            table.add_row(
                endpoint.id,
                endpoint.url,
                ", ".join(endpoint.event_types),
                f"{endpoint.created_at:%Y-%m-%d %H:%M}",
            )
    console.print(table)


@app.command("create")
def create_webhook(
    org_id: OrgOption,
    url: Annotated[str, typer.Option(help="Where events are POSTed (https).")],
    event: Annotated[
        list[str],
        typer.Option(help=f"An event type to send (repeat): {', '.join(webhooks.EVENT_TYPES)}."),
    ],
) -> None:
    """Create an endpoint and print its signing secret (shown only once)."""
    with session() as db_session:
        org = organizations.get(db_session, org_id=org_id)
        endpoint, secret = webhooks.create(
            db_session,
            org=org,
            data=WebhookCreate(url=url, event_types=event),
            actor=OPERATOR,
            settings=settings(),
        )
        webhook_id = endpoint.id
    console.print(f"Webhook {webhook_id} created for organization {org_id}", highlight=False)
    console.print(f"Signing secret (shown once, keep it secret): [bold green]{secret}[/]")


@app.command("delete")
def delete_webhook(org_id: OrgOption, webhook_id: WebhookArgument) -> None:
    """Stop sending to an endpoint at once."""
    with session() as db_session:
        org = organizations.get(db_session, org_id=org_id)
        endpoint = webhooks.get(db_session, org=org, webhook_id=webhook_id)
        webhooks.delete(db_session, endpoint=endpoint, actor=OPERATOR)
    console.print(f"Webhook {webhook_id} deleted; nothing more is sent to it.", highlight=False)


@app.command("deliveries")
def list_deliveries(
    org_id: OrgOption,
    webhook_id: WebhookArgument,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """What was sent to an endpoint, newest first, with each attempt's answer."""
    table = Table("delivery", "event", "status", "attempts", "last answer", "next attempt")
    with session() as db_session:
        org = organizations.get(db_session, org_id=org_id)
        endpoint = webhooks.get(db_session, org=org, webhook_id=webhook_id)
        items, _ = webhooks.list_deliveries(db_session, endpoint=endpoint, after=None, limit=limit)
    for item in items:
        last = item.attempts[-1] if item.attempts else None
        answer = (last.error or f"HTTP {last.status_code}") if last else ""
        table.add_row(
            item.id,
            item.event_type,
            item.status,
            str(len(item.attempts)),
            answer,
            f"{item.next_attempt_at:%Y-%m-%d %H:%M:%S}" if item.next_attempt_at else "",
        )
    console.print(table)
