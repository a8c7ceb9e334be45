"""``insitu secrets``: re-encrypting stored secrets after a new key is put first."""

from __future__ import annotations

from typing import Annotated

import typer

from insitu import rotation
from insitu.audit import service as audit
from insitu.cli.common import console, session, settings
from insitu.db import get_engine

app = typer.Typer(help="The secret keyring (INSITU_SECRET_KEYS).", no_args_is_help=True)


@app.command("rotate")
def rotate(
    batch: Annotated[int, typer.Option(min=1, help="Rows re-encrypted per transaction.")] = 500,
) -> None:
    """Re-encrypt every stored secret with the first key of INSITU_SECRET_KEYS."""
    current = settings()
    report = rotation.rotate(
        get_engine(current.database_url), keys=current.secret_keys, batch=batch
    )
    with session() as db_session:
        audit.record(
            db_session,
            actor=audit.OPERATOR,
            action="secrets.rotated",
            org_id=None,
            details={"rotated": report.total_rotated, "keys_in_ring": len(current.secret_keys)},
        )
    for column, count in report.rotated.items():
        console.print(
            f"{column}: {count} re-encrypted, {report.current[column]} already current",
            highlight=False,
        )
    console.print(
        f"Re-encrypted {report.total_rotated} secrets with the first key of the keyring "
        f"({report.total_current} already used it).",
        highlight=False,
    )
    if len(current.secret_keys) > 1:
        console.print(
            "Every stored secret now uses the first key: the other keys can be dropped from "
            "INSITU_SECRET_KEYS once every server runs with this keyring and URLs signed with "
            "them have expired.",
            highlight=False,
        )
