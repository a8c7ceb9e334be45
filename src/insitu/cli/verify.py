from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from insitu.cli.common import console, session, settings
from insitu.connections import service as connections
from insitu.organizations import service as organizations


def verify(
    source: Annotated[str, typer.Argument(help="What you will import, e.g. s3://bucket/prefix/")],
    connection: Annotated[str, typer.Option("--connection", help="Connection ID.")],
) -> None:
    """Check every permission and rule an import and labelers need; print fixes."""
    with session() as db_session:
        found = connections.get_any(db_session, connection_id=connection)
        org = organizations.get(db_session, org_id=found.org_id)
        checks = connections.verify(found, org=org, source=source, settings=settings())
    table = Table("check", "result", "detail", show_lines=True)
    for check in checks:
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[red]FAILED[/]", check.detail)
    console.print(table)
    failed = [check for check in checks if not check.ok]
    for check in failed:
        if check.fix:
            console.print(f"\n[bold]Fix for {check.name}:[/]\n{check.fix}", highlight=False)
    if failed:
        raise typer.Exit(1)
    console.print("\nAll checks passed: you can import.")
