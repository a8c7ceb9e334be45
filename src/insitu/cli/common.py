"""What every command shares: the console, a database session, picking the org."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Column
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

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


@contextmanager
def session() -> Iterator[Session]:
    url = settings().database_url
    try:
        with session_scope(get_engine(url)) as db_session:
            yield db_session
    except (OperationalError, ProgrammingError) as exc:
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
