"""``insitu audit``: the audit log, read on the server by the operator."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TextIO

import typer

from insitu.audit import service as audit
from insitu.cli.common import err_console, session, settings
from insitu.db import get_engine
from insitu.organizations import service as organizations

app = typer.Typer(help="The audit log of security-relevant actions.", no_args_is_help=True)


@app.command("export")
def export(
    org_id: Annotated[str, typer.Option("--org", help="Organization ID.")],
    output: Annotated[
        Path | None, typer.Option(help="Write to this file (created 0600); default stdout.")
    ] = None,
    action: Annotated[
        list[str] | None, typer.Option(help="Only this action; repeat for several.")
    ] = None,
) -> None:
    """Write an organization's whole audit log as JSON lines, newest first."""
    with session() as db_session:
        organizations.get(db_session, org_id=org_id)  # a clear error for an unknown org
        audit.record(
            db_session,
            actor=audit.OPERATOR,
            action="audit.exported",
            org_id=org_id,
            details={"actions": action or None, "to": str(output) if output else "stdout"},
        )
    events = audit.export(get_engine(settings().database_url), org_id=org_id, actions=action or ())
    count = 0
    with _open(output) as stream:
        for event in events:
            stream.write(event.model_dump_json() + "\n")
            count += 1
    if output is not None:
        err_console.print(f"Wrote {count} audit events to {output}", highlight=False)


@contextmanager
def _open(path: Path | None) -> Iterator[TextIO]:
    """``path`` opened for writing, readable by its owner only (it names keys and addresses);
    stdout when None."""
    if path is None:
        yield sys.stdout
        return
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as stream:
        yield stream
