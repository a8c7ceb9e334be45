"""Reconciles: start one for a project, read it, and start them on a schedule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from insitu import jobs
from insitu.audit import service as audit
from insitu.audit.service import Actor
from insitu.db import newest_first_page, utcnow
from insitu.errors import NotFound
from insitu.imports.models import FINISHED_STATUSES, ImportJob
from insitu.organizations.models import Organization
from insitu.projects.models import Project
from insitu.reconcile.models import FAILED, QUEUED, RUNNING, ReconcileJob
from insitu.reconcile.schemas import ReconcileCounts, ReconcileRead

RUN_TASK = "reconcile.run"
SCHEDULE = "schedule"
# A running reconcile whose worker has not written for this long is taken to have died.
STALE_AFTER = timedelta(minutes=2)


def lock_project(session: Session, project_id: str) -> None:
    """Take the project's row lock (PostgreSQL; SQLite has one writer anyway), so two servers
    or workers starting or claiming its reconcile at once take turns."""
    session.execute(select(Project.id).where(Project.id == project_id).with_for_update())


def start(session: Session, *, project: Project, by: str, enqueue: bool = True) -> ReconcileJob:
    """A reconcile of ``project``, queued once committed; an unfinished one is returned instead.

    ``enqueue=False`` leaves it for the caller to run (the CLI runs it in the foreground).
    """
    lock_project(session, project.id)
    _give_up_on_lost(session, project_id=project.id)
    alive = or_(
        ReconcileJob.status == QUEUED,
        and_(
            ReconcileJob.status == RUNNING,
            ReconcileJob.heartbeat_at >= utcnow() - STALE_AFTER,
        ),
    )
    pending = session.scalars(
        select(ReconcileJob).where(ReconcileJob.project_id == project.id, alive)
    ).first()
    if pending is not None:
        if pending.status == QUEUED and enqueue:
            # Sent again: its message may have been lost (a broker that was down); a
            # duplicate finds it claimed and does nothing.
            jobs.enqueue(session, RUN_TASK, job_id=pending.id)
        return pending
    job = ReconcileJob(org_id=project.org_id, project_id=project.id, requested_by=by)
    session.add(job)
    session.flush()
    audit.record(
        session,
        actor=Actor(by),
        action="reconcile.started",
        org_id=project.org_id,
        target_type="project",
        target_id=project.id,
        details={"reconcile_id": job.id},
    )
    if enqueue:
        jobs.enqueue(session, RUN_TASK, job_id=job.id)
    return job


def _give_up_on_lost(session: Session, *, project_id: str) -> None:
    """Mark failed the project's reconciles whose worker stopped writing minutes ago (killed,
    redeployed): nothing they did is undone, and a new reconcile does the whole pass again."""
    session.execute(
        update(ReconcileJob)
        .where(
            ReconcileJob.project_id == project_id,
            ReconcileJob.status == RUNNING,
            ReconcileJob.heartbeat_at < utcnow() - STALE_AFTER,
        )
        .values(
            status=FAILED,
            finished_at=utcnow(),
            error={
                "error": "worker_lost",
                "detail": "the worker running this reconcile stopped answering; "
                "a later reconcile did the whole pass again",
                "fix": None,
            },
        )
        .execution_options(synchronize_session=False)
    )


def get(session: Session, *, org: Organization, reconcile_id: str) -> ReconcileJob:
    job = session.get(ReconcileJob, reconcile_id)
    if job is None or job.org_id != org.id:
        raise NotFound(
            f"reconcile {reconcile_id} does not exist",
            fix="start one with POST /v1/projects/{id}/reconcile",
        )
    return job


def list_for_project(
    session: Session, *, project: Project, after: str | None, limit: int
) -> tuple[Sequence[ReconcileJob], str | None]:
    """A project's reconciles, newest first."""
    query = select(ReconcileJob).where(ReconcileJob.project_id == project.id)
    return newest_first_page(session, query, ReconcileJob, after=after, limit=limit)


def get_any(session: Session, *, reconcile_id: str) -> ReconcileJob:
    """Any org's reconcile, for the operator's CLI on the server."""
    job = session.get(ReconcileJob, reconcile_id)
    if job is None:
        raise NotFound(f"reconcile {reconcile_id} does not exist", fix="check the ID")
    return job


def start_due(session: Session, *, interval: timedelta) -> list[ReconcileJob]:
    """Start a reconcile of each project with imports whose last one is older than ``interval``,
    once none of its imports is queued or running (they are adding the new files already)."""
    last = (
        select(func.max(ReconcileJob.created_at))
        .where(ReconcileJob.project_id == Project.id)
        .scalar_subquery()
    )
    due = session.scalars(
        select(Project).where(
            exists().where(ImportJob.project_id == Project.id),
            ~exists().where(
                ImportJob.project_id == Project.id, ImportJob.status.not_in(FINISHED_STATUSES)
            ),
            (last.is_(None)) | (last < utcnow() - interval),
        )
    ).all()
    return [start(session, project=project, by=SCHEDULE) for project in due]


def read(job: ReconcileJob) -> ReconcileRead:
    return ReconcileRead(
        id=job.id,
        project_id=job.project_id,
        status=job.status,
        requested_by=job.requested_by,
        counts=ReconcileCounts(
            checked=job.checked,
            unchanged=job.unchanged,
            removed=job.removed,
            changed=job.changed,
            moved=job.moved,
            restored=job.restored,
            added=job.added,
            failed=job.failed,
        ),
        list_requests=job.list_requests,
        read_requests=job.read_requests,
        import_ids=job.import_ids or [],
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )
