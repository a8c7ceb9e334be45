from __future__ import annotations

import typer

from insitu import migrate
from insitu.cli.common import console, settings

app = typer.Typer(help="The database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Create or migrate the database to the newest schema (safe to run again)."""
    url = settings().database_url
    migrate.upgrade(url)
    console.print(f"Database is up to date: {_redacted(url)}")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
