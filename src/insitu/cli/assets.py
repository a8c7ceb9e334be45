from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from insitu.assets import service as assets_service
from insitu.cli.common import console, session
from insitu.projects.models import Project


def assets(
    project: Annotated[str, typer.Option("--project", help="Project ID.")],
    status: Annotated[str | None, typer.Option(help="active or removed.")] = None,
    limit: Annotated[int, typer.Option(help="How many to show.")] = 50,
) -> None:
    """List a project's assets and the facts insitu keeps about them."""
    with session() as db_session:
        found = db_session.get(Project, project)
        if found is None:
            from insitu.errors import NotFound

            raise NotFound(f"project {project} does not exist", fix="check the project ID")
        rows, more = assets_service.list_for_project(
            db_session, project=found, status=status, after=None, limit=limit
        )
    table = Table("id", "location", "kind", "type", "size", "dimensions", "duration", "status")
    table.columns[0].no_wrap = True
    for asset in rows:
        dims = f"{asset.width}x{asset.height}" if asset.width else ""
        duration = f"{asset.duration:.2f}s" if asset.duration else ""
        table.add_row(
            asset.id,
            asset.location,
            asset.media_kind or "",
            asset.mime_type or "",
            str(asset.size or ""),
            dims,
            duration,
            asset.status if not asset.removal_reason else f"{asset.status}: {asset.removal_reason}",
        )
    console.print(table)
    if more:
        console.print(f"(showing the first {limit}; pass --limit to see more)")
