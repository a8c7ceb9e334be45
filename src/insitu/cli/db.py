from __future__ import annotations

import typer
from sqlalchemy import make_url

from insitu import migrate
from insitu.cli.common import console, reach_database, settings

app = typer.Typer(help="The database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Create or migrate the database to the newest schema (safe to run again)."""
    url = settings().database_url
    before = reach_database()
    migrate.upgrade(url)
    after = migrate.current_revision(url)
    if before == after:
        console.print(f"Database already at schema {after}: {_redacted(url)}", highlight=False)
    elif before is None:
        console.print(f"Database created at schema {after}: {_redacted(url)}", highlight=False)
    else:
        console.print(
            f"Database upgraded from schema {before} to {after}: {_redacted(url)}",
            highlight=False,
        )


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
