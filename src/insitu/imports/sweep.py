"""The sweep: hands work whose worker died (its lease lapsed) to another worker.

Every INSITU_IMPORT_SWEEP_SECONDS, on every backend (a thread in ``insitu serve`` and in
``insitu worker``), it re-queues the listers and batches of running imports whose lease has
lapsed, batches queued long ago whose message may be lost (a broker restarted, a server
killed with the in-process queue), ends imports that are complete, and starts imports
waiting for a free slot of their org. While no worker runs, the queue grows by one message
per lister per lease and per queued batch per ten minutes, not by every batch each sweep.
Several sweeps may run at once: every claim is a conditional update, so a task delivered
twice runs once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from insitu import jobs
from insitu.config import Settings
from insitu.db import session_scope, utcnow
from insitu.imports import leases
from insitu.imports import service as imports
from insitu.imports.batches import BATCH_TASK
from insitu.imports.completion import finish_if_complete
from insitu.imports.lister import LIST_TASK
from insitu.imports.models import (
    BATCH_QUEUED,
    QUEUED,
    RUNNING,
    ImportBatch,
    ImportJob,
)
from insitu.jobs.periodic import Periodic

log = logging.getLogger(__name__)
# At most this many batches re-queued per import per sweep: the lister's bound keeps the
# queue short anyway, and a huge backlog is drained over a few sweeps, not at once.
_PER_SWEEP = 1000
# A queued batch's message waiting this long while other tasks keep the workers busy is
# taken for lost and sent again anyway.
_SURELY_LOST = timedelta(minutes=10)


def sweep(*, settings: Settings, restarted: bool = False) -> int:
    """Re-queue lapsed work; returns how many tasks were queued. ``restarted``: this process
    just started and its in-process queue (inline backend) was lost with the previous one,
    so every queued batch is handed out again at once."""
    now = utcnow()
    lease = timedelta(seconds=settings.import_lease_seconds)
    # Asked before any row is locked: a broker that does not answer takes seconds to say so.
    backlog = 0 if restarted else jobs.get_backend().waiting()
    # Batch rows and import rows in transactions of their own, never one then the other:
    # a batch's commit locks its row and then its import's, and cancel does the same.
    queued = _hand_out_batches(now, lease, restarted=restarted, backlog=backlog)
    queued += _hand_out_listings(now, lease)
    with session_scope() as session:
        queued += _start_waiting(session, settings)
        complete = list(
            session.scalars(
                select(ImportJob.id).where(
                    ImportJob.status == RUNNING, ImportJob.listing_done.is_(True)
                )
            )
        )
    for job_id in complete:
        finish_if_complete(job_id, settings=settings)
    if queued:
        log.info("import sweep re-queued %d tasks", queued)
    return queued


def _hand_out_batches(
    now: datetime, lease: timedelta, *, restarted: bool, backlog: int | None
) -> int:
    """Batches whose worker died, and batches queued long ago whose message may be lost (a
    broker restarted). While tasks wait in the queue, no worker is taking them and a queued
    batch's message is most likely among them: it is sent again only after _SURELY_LOST."""
    if restarted:
        lost_before = now
    elif not backlog:
        lost_before = now - 2 * lease
    else:
        lost_before = now - max(2 * lease, _SURELY_LOST)
    due = or_(
        leases.batch_lapsed(now),
        and_(
            ImportBatch.status == BATCH_QUEUED,
            ImportBatch.enqueued_at <= lost_before,
            leases.batch_not_waiting(now),
        ),
    )
    with session_scope() as session:
        lapsed = (
            select(ImportBatch.id)
            .join(ImportJob, ImportJob.id == ImportBatch.job_id)
            .where(ImportJob.status == RUNNING, due)
            .limit(_PER_SWEEP)
        )
        batch_ids = list(session.scalars(lapsed))
        if not batch_ids:
            return 0
        for batch_id in batch_ids:
            jobs.enqueue(session, BATCH_TASK, batch_id=batch_id)
        # Queued again, with no holder: shown as queued, not as running on a dead worker, and
        # sent again only by the rule above.
        session.execute(
            update(ImportBatch)
            .where(ImportBatch.id.in_(batch_ids), due)
            .values(status=BATCH_QUEUED, token=None, lease_until=None, enqueued_at=now)
        )
    return len(batch_ids)


def _hand_out_listings(now: datetime, lease: timedelta) -> int:
    """Listings whose lister died (or whose message was lost). The listing is marked handed
    out for one lease (no holder, so any worker's message may take it), so the next sweeps
    leave it alone while the task waits for a worker: one message per lease, not per sweep."""
    lapsed = and_(
        ImportJob.status == RUNNING,
        ImportJob.listing_done.is_(False),
        or_(ImportJob.lister_lease_until.is_(None), ImportJob.lister_lease_until < now),
    )
    handed = 0
    with session_scope() as session:
        for job_id in list(session.scalars(select(ImportJob.id).where(lapsed))):
            marked = session.execute(
                update(ImportJob)
                .where(ImportJob.id == job_id, lapsed)
                .values(lister_token=None, lister_lease_until=now + lease)
            )
            if marked.rowcount == 1:  # type: ignore[attr-defined]
                jobs.enqueue(session, LIST_TASK, job_id=job_id)
                handed += 1
    return handed


def _start_waiting(session: Session, settings: Settings) -> int:
    orgs = session.scalars(select(ImportJob.org_id).where(ImportJob.status == QUEUED).distinct())
    started = 0
    for org_id in list(orgs):
        started += len(
            imports.start_waiting(
                session, org_id=org_id, max_running=settings.max_running_imports_per_org
            )
        )
    return started


def sweeper(settings: Settings, *, queue_lost_on_start: bool) -> Periodic:
    """The sweep as a daemon thread; its first run comes at once. ``queue_lost_on_start``:
    the job queue lived in the previous process (inline backend), so the first run hands out
    every queued batch again."""

    def run(first: bool) -> None:
        sweep(settings=settings, restarted=first and queue_lost_on_start)

    return Periodic("import-sweep", settings.import_sweep_seconds, run)
