"""``insitu import``: an import with a progress bar, run here or, with Celery, on the workers.

On the inline backend the command runs the import itself (no server or worker needed). With
INSITU_JOB_BACKEND=celery it queues the import for the workers and follows its progress: the
work spreads over the cluster, and stopping the command (Ctrl-C) leaves the import running.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from insitu import jobs
from insitu.audit.service import OPERATOR
from insitu.cli.common import console, print_job_error, session, settings
from insitu.connections import service as connections
from insitu.errors import InvalidInput
from insitu.imports import service as imports
from insitu.imports.models import FINISHED_STATUSES, ImportJob
from insitu.imports.pipeline import run_import
from insitu.imports.schemas import ImportCreate
from insitu.organizations import service as organizations
from insitu.organizations.models import Organization
from insitu.projects import service as projects
from insitu.storage.registry import parse_location

FOLLOW_SECONDS = 1.0  # how often a followed import's progress is read
PLAIN_LINE_SECONDS = 10.0  # how often progress is printed as a line when output is not a terminal


def import_files(
    source: Annotated[
        str | None, typer.Argument(help="A prefix or file, e.g. s3://bucket/images/")
    ] = None,
    project: Annotated[str | None, typer.Option("--project", help="Project ID.")] = None,
    connection: Annotated[
        str | None, typer.Option("--connection", help="Default: the org's only one for SOURCE.")
    ] = None,
    files_from: Annotated[
        Path | None,
        typer.Option("--files-from", help="A file listing keys or URIs under SOURCE, one a line."),
    ] = None,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Continue an interrupted import by its ID.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Resume even if it looks alive.")] = False,
    cancel: Annotated[
        str | None, typer.Option("--cancel", help="Stop a queued or running import by its ID.")
    ] = None,
    remove_assets: Annotated[
        bool, typer.Option(help="With --cancel: also take the import's assets out of circulation.")
    ] = False,
) -> None:
    """Import a prefix (or only --files-from) into a project, then print a summary."""
    if cancel:
        _cancel(cancel, remove_assets)
        return
    if remove_assets:
        raise InvalidInput(
            "--remove-assets goes with --cancel", fix="insitu import --cancel ID --remove-assets"
        )
    on_workers = settings().job_backend == "celery"
    job_id = (
        _resume(resume, force, on_workers)
        if resume
        else _create(source, project, connection, files_from, on_workers)
    )
    _run_with_progress(job_id, on_workers)


def _cancel(job_id: str, remove_assets: bool) -> None:
    with session() as db_session:
        job = imports.get_any(db_session, job_id=job_id)
        removed = imports.cancel(db_session, job=job, remove_assets=remove_assets, actor=OPERATOR)
        status = job.status
    console.print(f"Import {job_id} is {status}.", highlight=False)
    if remove_assets:
        console.print(f"{removed} of its assets left circulation.")


def _create(
    source: str | None,
    project_id: str | None,
    connection_id: str | None,
    files_from: Path | None,
    on_workers: bool,
) -> str:
    if not source or not project_id:
        raise InvalidInput(
            "SOURCE and --project are needed to start an import",
            fix="insitu import s3://bucket/prefix/ --project ID  (or --resume JOB)",
        )
    files = _read_files(files_from) if files_from else None
    with session() as db_session:
        project = projects.get_any(db_session, project_id=project_id)
        org = organizations.get(db_session, org_id=project.org_id)
        connection_id = connection_id or _only_connection(db_session, org, source)
        data = ImportCreate(source=source, connection_id=connection_id, source_files=files)
        job = imports.create(
            db_session, org=org, project=project, data=data, settings=settings(),
            enqueue=on_workers,
        )  # fmt: skip
        return job.id


def _resume(job_id: str, force: bool, on_workers: bool) -> str:
    with session() as db_session:
        job = imports.get_any(db_session, job_id=job_id)
        imports.resume(db_session, job=job, force=force)
        if on_workers:
            jobs.enqueue(db_session, imports.RUN_TASK, job_id=job_id)
    console.print(f"Resuming import {job_id} where it last committed.")
    return job_id


def _read_files(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", fix="check the path") from exc
    return [line.strip() for line in lines if line.strip()]


def _only_connection(db_session, org: Organization, source: str) -> str:  # type: ignore[no-untyped-def]
    provider = parse_location(source).provider
    candidates = [
        c for c in connections.list_for_org(db_session, org=org) if c.provider == provider
    ]
    if len(candidates) != 1:
        raise InvalidInput(
            f"{'no' if not candidates else 'several'} {provider} connections; say which to use",
            fix=f"pass --connection ID, or create one: insitu connect {provider} ...",
        )
    return candidates[0].id


def _run_with_progress(job_id: str, on_workers: bool) -> None:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    last_warning: str | None = None
    line_at = 0.0
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("Importing", total=None, detail="")

        def show(job: ImportJob) -> None:
            nonlocal last_warning, line_at
            read = imports.read(job)
            detail = f"{job.imported} new, {job.already_present} present, {job.failed} failed" + (
                f", {now:,.0f} files/s" if (now := read.progress.recent_rate) else ""
            )
            bar.update(task, completed=read.progress.done, total=read.progress.total, detail=detail)
            warning = read.warning["detail"] if read.warning else None
            if warning and warning != last_warning:
                bar.console.print(f"[yellow]Waiting for the store:[/] {warning}", highlight=False)
            last_warning = warning
            # Piped or logged output gets no live bar: a line every PLAIN_LINE_SECONDS instead.
            if not console.is_terminal and time.monotonic() - line_at >= PLAIN_LINE_SECONDS:
                line_at = time.monotonic()
                total = f"{read.progress.total:,}" if read.progress.total is not None else "?"
                console.print(
                    f"{read.status}: {read.progress.done:,} of {total} files settled; {detail}",
                    highlight=False,
                )

        if on_workers:
            _follow(job_id, show)
        else:
            run_import(job_id, settings=settings(), progress=show)
    _summary(job_id)


def _follow(job_id: str, show: Callable[[ImportJob], None]) -> None:
    """Show the progress of an import the workers run until it ends; Ctrl-C only stops
    watching."""
    console.print(f"Import {job_id} is queued for the workers (Ctrl-C stops watching, not it).")
    try:
        while True:
            with session() as db_session:
                job = imports.get_any(db_session, job_id=job_id)
                show(job)
                if job.status in FINISHED_STATUSES:
                    return
            time.sleep(FOLLOW_SECONDS)
    except KeyboardInterrupt:
        console.print(
            f"Stopped watching; the workers go on. Progress: GET /v1/imports/{job_id}; "
            f"stop it: insitu import --cancel {job_id}",
            highlight=False,
        )
        raise typer.Exit(130) from None


def _summary(job_id: str) -> None:
    with session() as db_session:
        job = imports.get_any(db_session, job_id=job_id)
        read = imports.read(job)
    table = Table("import", "status", "listed", "imported", "already present", "failed")
    counts = read.counts
    table.add_row(
        job_id,
        read.status,
        *map(str, (counts.listed, counts.imported, counts.already_present, counts.failed)),
    )
    console.print(table)
    if read.batches is not None:
        batches = read.batches
        console.print(
            f"Batches: {batches.done} done, {batches.running} running, {batches.queued} "
            f"queued, {batches.given_up} given up"
            + (f"; {read.progress.rate:,.1f} files/s" if read.progress.rate else ""),
            highlight=False,
        )
    console.print(f"Import ID: {job_id}", highlight=False)
    if read.error:
        print_job_error(read.error)
        raise typer.Exit(1)
    if counts.failed:
        _show_failures(job_id, counts.failed)
    if read.status == "canceled":
        console.print("The import was canceled; what it imported before is kept.")
        raise typer.Exit(1)


def _show_failures(job_id: str, failed: int, shown: int = 10) -> None:
    with session() as db_session:
        job = imports.get_any(db_session, job_id=job_id)
        rows, _ = imports.list_failures(db_session, job=job, after=None, limit=shown)
    console.print(f"\n[bold]{failed} files failed:[/]")
    for row in rows:
        console.print(f"- {row.location}: {row.message} [dim]({row.code})[/]", highlight=False)
        if row.fix:
            console.print(f"  Fix: {row.fix}", highlight=False, soft_wrap=True)
    if failed > len(rows):
        console.print(f"... all of them: GET /v1/imports/{job_id}/failures", highlight=False)
