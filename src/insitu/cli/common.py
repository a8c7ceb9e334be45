"""What every command shares: the console, a database session, picking the org."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Column
from sqlalchemy import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from insitu import migrate
from insitu.config import Settings, get_settings
from insitu.db import get_engine, session_scope
from insitu.errors import InvalidConfiguration, InvalidInput, NotFound
from insitu.organizations import service as organizations
from insitu.organizations.models import Organization

# Piped or captured output is not cut at 80 columns: ids in tables must stay whole to paste.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)


def id_column(header: str = "id") -> Column:
    """A table column for ids: never cut or wrapped, whatever the terminal's width (a cut id
    cannot be pasted into the next command)."""
    return Column(header, no_wrap=True, min_width=32)


def settings() -> Settings:
    return get_settings()


def shown_url(url: str) -> str:
    """A database URL as it may be printed: its password masked."""
    return make_url(url).render_as_string(hide_password=True)


def reach_database() -> str | None:
    """The schema revision of the database; an error saying what to fix when it does not
    answer (the server is down, the database missing, the URL wrong)."""
    url = settings().database_url
    try:
        return migrate.current_revision(url)
    except OperationalError as exc:
        reason = " ".join(str(exc.orig or exc).split())
        raise InvalidConfiguration(
            f"cannot reach the database INSITU_DATABASE_URL names ({shown_url(url)}): {reason}",
            fix="start the database server, create the database, or correct INSITU_DATABASE_URL",
        ) from exc


@contextmanager
def session() -> Iterator[Session]:
    url = settings().database_url
    try:
        with session_scope(get_engine(url)) as db_session:
            yield db_session
    except (OperationalError, ProgrammingError) as exc:
        if isinstance(exc, OperationalError):
            reach_database()  # a database that does not answer says so, not "no schema"
        if "no such table" in str(exc) or "does not exist" in str(exc):
            raise InvalidConfiguration(
                "the database has no insitu schema yet (or an old one)",
                fix="run: insitu db upgrade",
            ) from exc
        raise


def pick_org(db_session: Session, org_id: str | None) -> Organization:
    """The org named by --org, or the only one there is."""
    if org_id:
        return organizations.get(db_session, org_id=org_id)
    orgs = organizations.list_all(db_session)
    if len(orgs) == 1:
        return orgs[0]
    if not orgs:
        raise NotFound("there is no organization yet", fix="create one: insitu org create NAME")
    raise InvalidInput(
        "there are several organizations; say which one",
        fix="pass --org ID (insitu org list shows them)",
    )


def print_job_error(error: dict[str, Any]) -> None:
    """A failed job's error as the CLI shows every error: what failed, then the fix."""
    console.print(f"[bold red]Error:[/] {error.get('detail')}", highlight=False)
    if error.get("fix"):
        console.print(f"[bold]Fix:[/] {error['fix']}", highlight=False)
