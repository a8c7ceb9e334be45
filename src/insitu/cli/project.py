from __future__ import annotations

from typing import Annotated

import typer

from insitu.cli.common import console, pick_org, session
from insitu.projects import service as projects
from insitu.projects.schemas import ProjectCreate

app = typer.Typer(help="Projects.", no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The project's name.")],
    self_hosted: Annotated[
        bool | None,
        typer.Option("--self-hosted/--not-self-hosted", help="Default: the org's setting."),
    ] = None,
    kinds: Annotated[
        str | None, typer.Option(help="Accept only these media kinds, e.g. image,dicom.")
    ] = None,
    org: Annotated[str | None, typer.Option("--org", help="Organization ID (if several).")] = None,
) -> None:
    """Create a project and print its ID."""
    allowed = [kind.strip() for kind in kinds.split(",")] if kinds else None
    data = ProjectCreate(name=name, self_hosted=self_hosted, allowed_kinds=allowed)
    with session() as db_session:
        project = projects.create(db_session, org=pick_org(db_session, org), data=data)
    hosted = "self-hosted" if project.self_hosted else "not self-hosted"
    console.print(f"Project [bold]{project.name}[/] ({hosted}) created: {project.id}")
