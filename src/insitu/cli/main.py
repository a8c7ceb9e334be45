"""The ``insitu`` command: each command group lives in its own module."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

from insitu.cli import (
    assets,
    connect,
    connections,
    cors,
    db,
    imports,
    keys,
    org,
    project,
    reconcile,
    secrets,
    serve,
    verify,
    webhooks,
)
from insitu.cli import audit as audit_cli
from insitu.cli import azure as azure_cli
from insitu.cli.common import err_console
from insitu.errors import InsituError
from insitu.process import tune_garbage_collector

app = typer.Typer(
    name="insitu",
    help="Label files that never leave the customer's own cloud.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(org.app, name="org")
app.add_typer(keys.app, name="keys")
app.add_typer(connect.app, name="connect")
app.add_typer(connections.app, name="connections")
app.add_typer(project.app, name="project")
app.add_typer(azure_cli.app, name="azure")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(secrets.app, name="secrets")
app.add_typer(webhooks.app, name="webhooks")
app.command("serve")(serve.serve)
app.command("worker")(serve.worker)
app.command("import")(imports.import_files)
app.command("verify")(verify.verify)
app.command("cors")(cors.cors)
app.command("assets")(assets.assets)
app.command("remove")(assets.remove)
app.command("restore")(assets.restore)
app.command("reconcile")(reconcile.reconcile)


def main() -> None:
    """Run the CLI; an insitu error prints what failed and how to fix it, then exits 1.

    Usage errors (exit 2) and ``typer.Exit`` codes are left to click's standalone mode.
    """
    tune_garbage_collector()
    try:
        app()
    except InsituError as exc:
        err_console.print(f"[bold red]Error:[/] {exc.detail}", highlight=False)
        if exc.fix:
            err_console.print(f"[bold]Fix:[/] {exc.fix}", highlight=False)
        sys.exit(1)
    except ValidationError as exc:
        err_console.print(f"[bold red]Error:[/] invalid configuration:\n{exc}", highlight=False)
        err_console.print("[bold]Fix:[/] correct the INSITU_* variables named above")
        sys.exit(1)
