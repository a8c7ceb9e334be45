"""``insitu connect PROVIDER``: one command per provider, all through the same service."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from insitu.cli.common import console, pick_org, session, settings
from insitu.connections import service as connections
from insitu.connections.schemas import ConnectionCreate

app = typer.Typer(help="Connect an organization to its storage.", no_args_is_help=True)

OrgOption = Annotated[str | None, typer.Option("--org", help="Organization ID (if several).")]
NameOption = Annotated[str | None, typer.Option(help="A name for the connection.")]


def create_connection(
    provider: str, org_id: str | None, name: str | None, values: dict[str, Any]
) -> None:
    """Store a connection and print it; shared by every ``connect`` command."""
    data = ConnectionCreate(
        provider=provider,
        name=name,
        settings={key: value for key, value in values.items() if value is not None},
    )
    with session() as db_session:
        org = pick_org(db_session, org_id)
        # Whoever runs the CLI on the server is the platform operator.
        connection = connections.create(
            db_session, org=org, data=data, settings=settings(), operator=True
        )
        shown = connections.read(connection, settings=settings())
    console.print(f"Connection [bold]{shown.id}[/] ({provider}) created for org {org.id}:")
    console.print_json(json.dumps(shown.settings))
    console.print(f"Next: insitu verify SOURCE --connection {shown.id}")


@app.command("s3")
def connect_s3(
    mode: Annotated[
        str, typer.Option(help="platform_role (bucket policy) or customer_role (assume a role).")
    ] = "platform_role",
    role_arn: Annotated[str | None, typer.Option(help="Your role, for customer_role.")] = None,
    region: Annotated[str, typer.Option(help="The bucket's region.")] = "us-east-1",
    endpoint_url: Annotated[
        str | None, typer.Option(help="An S3-compatible store's endpoint (MinIO, Ceph, R2...).")
    ] = None,
    org: OrgOption = None,
    name: NameOption = None,
) -> None:
    """Connect AWS S3 or an S3-compatible store."""
    values = {"mode": mode, "role_arn": role_arn, "region": region, "endpoint_url": endpoint_url}
    create_connection("s3", org, name, values)


@app.command("azure")
def connect_azure(
    account_url: Annotated[
        str, typer.Option(help="Blob endpoint: https://ACCOUNT.blob.core.windows.net")
    ],
    tenant: Annotated[str, typer.Option(help="The tenant ID (connect it first: insitu azure).")],
    org: OrgOption = None,
    name: NameOption = None,
) -> None:
    """Connect an Azure storage account in a tenant the organization connected."""
    create_connection("azure", org, name, {"account_url": account_url, "tenant_id": tenant})


@app.command("local")
def connect_local(
    root: Annotated[str, typer.Option(help="A directory under one of INSITU_LOCAL_ROOTS.")],
    org: OrgOption = None,
    name: NameOption = None,
) -> None:
    """Connect a directory of an on-prem mount that this server may read."""
    create_connection("local", org, name, {"root": root})


@app.command("gcs")
def connect_gcs(
    user_project: Annotated[
        str | None, typer.Option(help="Project billed for reads of requester-pays buckets.")
    ] = None,
    org: OrgOption = None,
    name: NameOption = None,
) -> None:
    """Connect Google Cloud Storage (grant the account from GET /v1/organization/gcs first)."""
    create_connection("gcs", org, name, {"user_project": user_project})
