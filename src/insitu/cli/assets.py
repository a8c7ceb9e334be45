"""Assets: list a project's, take them out of circulation, bring them back."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from insitu.assets import service as assets_service
from insitu.audit.service import OPERATOR
from insitu.cli.common import console, id_column, session, settings
from insitu.organizations import service as organizations
from insitu.projects import service as projects


def assets(
    project: Annotated[str, typer.Option("--project", help="Project ID.")],
    status: Annotated[str | None, typer.Option(help="active (default), removed or all.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only assets removed for this reason.")] = None,
    limit: Annotated[int, typer.Option(help="How many to show.")] = 50,
) -> None:
    """List a project's assets and the facts insitu keeps about them."""
    with session() as db_session:
        found = projects.get_any(db_session, project_id=project)
        rows, more = assets_service.list_for_project(
            db_session, project=found, status=status, reason=reason, after=None, limit=limit
        )
    table = Table(
        id_column(), "location", "kind", "type", "size", "dimensions", "duration", "status"
    )
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


def remove(
    project: Annotated[str, typer.Option("--project", help="Project ID.")],
    asset: Annotated[
        list[str] | None, typer.Option("--asset", help="An asset ID (repeat for several).")
    ] = None,
    import_id: Annotated[
        str | None, typer.Option("--import", help="Every asset this import brought.")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Every asset under this URI.")
    ] = None,
) -> None:
    """Take assets out of labeling circulation; their records (and labels) are kept."""
    with session() as db_session:
        found = projects.get_any(db_session, project_id=project)
        removed = assets_service.remove_from_project(
            db_session,
            project=found,
            actor=OPERATOR,
            asset_ids=asset or None,
            import_id=import_id,
            prefix=prefix,
        )
    console.print(f"{removed} assets left circulation (insitu assets --status removed lists them).")


def restore(asset_id: Annotated[str, typer.Argument(help="The removed asset's ID.")]) -> None:
    """Bring a removed asset back into circulation once its file is unchanged in the bucket."""
    with session() as db_session:
        asset = assets_service.get_any(db_session, asset_id=asset_id)
        org = organizations.get(db_session, org_id=asset.org_id)
        assets_service.restore(
            db_session, org=org, asset=asset, actor=OPERATOR, settings=settings()
        )
        location = asset.location
    console.print(f"Asset {asset_id} ({location}) is back in circulation.", highlight=False)
