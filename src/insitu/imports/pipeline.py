"""Running one import to the end in this thread: the CLI's foreground run, benchmarks.

Workers run an import as many tasks (one lister, many batches; see ``lister`` and
``batches``); this drives the same tasks one after the other here, so ``insitu import``
shows progress without a worker. Other workers may take part at the same time: every step
is claimed, so nothing runs twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select

from insitu.config import Settings
from insitu.db import session_scope, utcnow
from insitu.imports import leases
from insitu.imports.batches import run_batch
from insitu.imports.completion import finish_if_complete
from insitu.imports.lister import run_lister
from insitu.imports.models import RUNNING, ImportBatch, ImportJob
from insitu.jobs import follow_up

ProgressCallback = Callable[[ImportJob], None]
_IDLE = 0.2  # how long to wait when the work left is someone else's or not yet due


def run_import(
    job_id: str, *, settings: Settings, progress: ProgressCallback | None = None
) -> None:
    """Run (or resume) import ``job_id`` until it ends, or until it cannot start here (its
    org is at its cap of running imports, or it was canceled)."""
    token: str | None = None
    lister_due = 0.0
    while True:
        if time.monotonic() >= lister_due:
            outcome = run_lister(job_id, settings=settings, token=token, requeue=False)
            token = outcome.token
            lister_due = time.monotonic() + outcome.wait if outcome.state == "wait" else 0.0
        ran = False
        for batch_id in _due_batches(job_id):
            ran = run_batch(batch_id, settings=settings, enqueue=False, hand_off=True) or ran
            _report(job_id, progress)
        follow_up.drain()  # this pass's batches written: the counts below are theirs
        _report(job_id, progress)
        with session_scope() as session:
            job = session.get_one(ImportJob, job_id)
            status, listing_done = job.status, job.listing_done
        if status != RUNNING:
            return
        if listing_done and finish_if_complete(job_id, settings=settings):
            _report(job_id, progress)
            return
        if not ran:
            time.sleep(_IDLE)


def _due_batches(job_id: str) -> list[str]:
    with session_scope() as session:
        now = utcnow()
        return list(
            session.scalars(
                select(ImportBatch.id)
                .where(
                    ImportBatch.job_id == job_id,
                    leases.batch_due(now),
                )
                .order_by(ImportBatch.id)
            )
        )


def _report(job_id: str, progress: ProgressCallback | None) -> None:
    if progress is None:
        return
    with session_scope() as session:
        progress(session.get_one(ImportJob, job_id))
