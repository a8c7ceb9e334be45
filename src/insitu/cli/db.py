from __future__ import annotations

import typer

from insitu import migrate
from insitu.cli.common import console, reach_database, settings, shown_url

app = typer.Typer(help="The database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Create or migrate the database to the newest schema (safe to run again)."""
    url = settings().database_url
    before = reach_database()
    migrate.upgrade(url)
    after = migrate.current_revision(url)
    if before == after:
        console.print(f"Database already at schema {after}: {shown_url(url)}", highlight=False)
    elif before is None:
        console.print(f"Database created at schema {after}: {shown_url(url)}", highlight=False)
    else:
        console.print(
            f"Database upgraded from schema {before} to {after}: {shown_url(url)}",
            highlight=False,
        )
