"""The sweep: hands work whose worker died (its lease lapsed) to another worker.

Every INSITU_IMPORT_SWEEP_SECONDS, on every backend (a thread in ``insitu serve`` and in
``insitu worker``), it re-queues the listers and batches of running imports whose lease has
lapsed, batches queued long ago whose message may be lost (a broker restarted, a server
killed with the in-process queue) when no task waits in the queue, ends imports that are
complete, and starts imports waiting for a free slot of their org. While no worker runs, the
queue grows by at most one message per lister per lease, not by every batch each sweep.
Several sweeps may run at once: every claim is a conditional update, so a task delivered
twice runs once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from insitu import jobs
from insitu.config import Settings
from insitu.db import new_id, session_scope, utcnow
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


def sweep(*, settings: Settings, restarted: bool = False) -> int:
    """Re-queue lapsed work; returns how many tasks were queued. ``restarted``: this process
    just started and its in-process queue (inline backend) was lost with the previous one,
    so every queued batch is handed out again at once."""
    now = utcnow()
    lease = timedelta(seconds=settings.import_lease_seconds)
    queued = 0
    listing_lapsed = and_(
        ImportJob.status == RUNNING,
        ImportJob.listing_done.is_(False),
        or_(ImportJob.lister_lease_until.is_(None), ImportJob.lister_lease_until < now),
    )
    with session_scope() as session:
        for job_id in list(session.scalars(select(ImportJob.id).where(listing_lapsed))):
            # The lease goes with the task, so the next sweeps leave the listing alone
            # while the task waits for a worker (one message per lease, not per sweep).
            token = new_id()
            handed = session.execute(
                update(ImportJob)
                .where(ImportJob.id == job_id, listing_lapsed)
                .values(lister_token=token, lister_lease_until=now + lease)
            )
            if handed.rowcount == 1:  # type: ignore[attr-defined]
                jobs.enqueue(session, LIST_TASK, job_id=job_id, token=token)
                queued += 1
        due = [leases.batch_lapsed(now)]
        # A batch queued long ago whose message may be lost (a broker restarted). Not while
        # tasks wait in the queue: then no worker is taking them, and nothing is lost.
        if restarted or not jobs.get_backend().waiting():
            lost_before = now if restarted else now - 2 * lease
            due.append(
                and_(
                    ImportBatch.status == BATCH_QUEUED,
                    ImportBatch.enqueued_at <= lost_before,
                    leases.batch_not_waiting(now),
                )
            )
        lapsed = (
            select(ImportBatch.id)
            .join(ImportJob, ImportJob.id == ImportBatch.job_id)
            .where(ImportJob.status == RUNNING, or_(*due))
            .limit(_PER_SWEEP)
        )
        batch_ids = list(session.scalars(lapsed))
        for batch_id in batch_ids:
            jobs.enqueue(session, BATCH_TASK, batch_id=batch_id)
        if batch_ids:
            # Queued again, with no holder: shown as queued, not as running on a dead worker,
            # and handed out again only by the rule above.
            session.execute(
                update(ImportBatch)
                .where(
                    ImportBatch.id.in_(batch_ids),
                    or_(ImportBatch.status == BATCH_QUEUED, leases.batch_lapsed(now)),
                )
                .values(status=BATCH_QUEUED, token=None, lease_until=None, enqueued_at=now)
            )
        queued += len(batch_ids)
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
