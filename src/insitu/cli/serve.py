from __future__ import annotations

import os
from typing import Annotated

import typer

from insitu import migrate
from insitu.cli.common import console, reach_database, session, settings
from insitu.errors import InvalidConfiguration
from insitu.organizations import service as organizations


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes (use the cores you have).")] = 1,
    access_log: Annotated[
        bool, typer.Option(help="Log every request (signed URLs are audited either way).")
    ] = False,
) -> None:
    """Run the API, the portal and (on the inline backend) the worker."""
    import uvicorn

    _refuse_sqlite_with_workers()
    reach_database()
    migrate.upgrade(settings().database_url)
    warning = settings().shared_identity_warning
    if warning:
        console.print(f"[bold yellow]Warning:[/] {warning}.", highlight=False)
    _bootstrap(port)
    uvicorn.run(
        "insitu.api.app:serve_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=access_log,
    )


def _bootstrap(port: int) -> None:
    """On an empty development database, create the first organization and say what to try.

    Production never does this: an admin key printed into a server log is a leak waiting
    to happen; operators create organizations with ``insitu org create``.
    """
    if settings().environment == "production":
        return
    with session() as db_session:
        if organizations.list_all(db_session):
            return
        org, key = organizations.create(
            db_session, name="default", settings=settings(), self_host_default=True
        )
    base = f"http://127.0.0.1:{port}"
    console.rule("[bold]insitu is set up")
    console.print(f"Organization [bold]default[/] ({org.id}) was created. Its admin API key:")
    console.print(f"\n  [bold green]{key}[/]\n")
    console.print("It is shown only this once. Try:", highlight=False)
    console.print(
        f"  open {base} and sign in to the portal with this key\n"
        f"  export INSITU_KEY={key}\n"
        f'  curl -H "Authorization: Bearer $INSITU_KEY" {base}/v1/organization\n'
        f"  open {base}/docs for every endpoint\n",
        highlight=False,
        soft_wrap=True,
    )
    console.rule()


def worker(
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "-c",
            help="Worker processes; each runs one task at a time (a batch of "
            "INSITU_IMPORT_BATCH_SIZE files, up to INSITU_STORE_MAX_IN_FLIGHT requests in "
            "flight) and spends about 0.15-0.35 ms of CPU per file on S3, 0.3-0.7 on Azure and "
            "GCS. With the store in a nearby region, one per core; more per core only when "
            "the store is far away. The processes across all workers are the batches that "
            "run at once.",
        ),
    ] = 2,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="This worker's name in Celery's logs and events (default: insitu-PID@HOST).",
        ),
    ] = None,
) -> None:
    """Run a Celery worker (INSITU_JOB_BACKEND=celery) for imports at scale.

    Each worker also runs the import sweep, which re-queues the work of workers that died.
    Sizing a cluster: README, "Running at scale".
    """
    if settings().job_backend != "celery":
        raise InvalidConfiguration(
            "the job backend is 'inline': jobs run inside 'insitu serve', no worker is needed",
            fix="set INSITU_JOB_BACKEND=celery (and INSITU_CELERY_BROKER_URL) to use workers",
        )
    _refuse_sqlite_with_workers()
    if reach_database() != migrate.head_revision():
        raise InvalidConfiguration(
            "the database has no insitu schema yet (or an old one); a worker does not "
            "change the schema",
            fix="run 'insitu db upgrade' (or start 'insitu serve', which upgrades it)",
        )
    from celery.signals import worker_ready, worker_shutting_down

    from insitu.imports.sweep import sweeper
    from insitu.jobs.celery_backend import app

    sweep = sweeper(settings(), queue_lost_on_start=False)
    # Started once the pool's processes are forked, so none of them inherits the thread.
    worker_ready.connect(lambda **_: sweep.start(), weak=False)
    worker_shutting_down.connect(lambda **_: sweep.stop(), weak=False)
    queue = settings().celery_queue
    # Several workers on one machine would all be celery@HOST: Celery warns, logs mix up.
    hostname = name or f"insitu-{os.getpid()}@%h"
    app.worker_main(
        ["worker", f"--concurrency={concurrency}", f"--queues={queue}", "--loglevel=INFO",
         f"--hostname={hostname}"]
    )  # fmt: skip


def _refuse_sqlite_with_workers() -> None:
    """Celery workers are other processes, often on other machines: they need one database
    every process reaches, which a SQLite file is not."""
    if settings().job_backend == "celery" and settings().is_sqlite:
        raise InvalidConfiguration(
            "INSITU_JOB_BACKEND=celery runs imports in separate worker processes, but "
            f"INSITU_DATABASE_URL is a SQLite file ({settings().database_url}) that only this "
            "machine's processes share, one writer at a time",
            fix="set INSITU_DATABASE_URL=postgresql://USER@HOST/DB for the servers and workers, "
            "or INSITU_JOB_BACKEND=inline to run imports inside 'insitu serve'",
        )
