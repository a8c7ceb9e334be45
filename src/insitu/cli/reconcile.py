"""``insitu reconcile``: bring a project's assets in line with its buckets, in the foreground."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table

from insitu.audit.service import OPERATOR
from insitu.cli.common import console, print_job_error, session, settings
from insitu.projects import service as projects
from insitu.reconcile import service as reconciles
from insitu.reconcile.models import FINISHED_STATUSES, QUEUED, ReconcileJob
from insitu.reconcile.runner import run_reconcile
from insitu.reconcile.schemas import ReconcileRead

COUNTS = ("checked", "unchanged", "removed", "changed", "moved", "restored", "added", "failed")


def reconcile(project: Annotated[str, typer.Option("--project", help="Project ID.")]) -> None:
    """Compare a project's assets with listings of its buckets; print what changed."""
    with session() as db_session:
        found = projects.get_any(db_session, project_id=project)
        job = reconciles.start(db_session, project=found, by=OPERATOR.id, enqueue=False)
        job_id, queued = job.id, job.status == QUEUED
    with Live(_table(None), console=console, refresh_per_second=4) as live:

        def show(job: ReconcileJob) -> None:
            live.update(_table(reconciles.read(job)))

        if queued:
            run_reconcile(job_id, settings=settings(), progress=show)
        while True:  # running in another process (a server's schedule): follow it
            with session() as db_session:
                read = reconciles.read(reconciles.get_any(db_session, reconcile_id=job_id))
            live.update(_table(read))
            if read.status in FINISHED_STATUSES:
                break
            time.sleep(1)
    console.print(f"Reconcile ID: {job_id}", highlight=False)
    if read.error:
        print_job_error(read.error)
        raise typer.Exit(1)
    for import_id in read.import_ids:
        console.print(f"New files were imported by import {import_id}.", highlight=False)


def _table(read: ReconcileRead | None) -> Table:
    table = Table("status", *COUNTS, "list requests")
    if read is not None:
        counts = read.counts.model_dump()
        table.add_row(read.status, *(str(counts[name]) for name in COUNTS), str(read.list_requests))
    return table
