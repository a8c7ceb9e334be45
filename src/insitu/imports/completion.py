"""Ending an import: once its listing is done and every batch is, exactly once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from insitu.config import Settings
from insitu.db import get_for_update, session_scope, utcnow
from insitu.imports import service as imports
from insitu.imports.models import (
    BATCH_PENDING,
    FAILED,
    RUNNING,
    SUCCEEDED,
    ImportBatch,
    ImportJob,
)
from insitu.webhooks import service as webhooks


def unavailable_error(job_id: str, files: int) -> dict[str, Any]:
    return {
        "error": "storage_unavailable",
        "detail": f"{files:,} files were not imported: the store kept answering that it was "
        "busy or unavailable (throttling, 503, timeouts) however long insitu waited; they are "
        "listed as failures with code storage_unavailable",
        "fix": f"when the store answers again, run 'insitu import --resume {job_id}': only "
        "those files are tried again",
    }


def finish_if_complete(job_id: str, *, settings: Settings) -> bool:
    """Settle the import if nothing is left to list or run; True if this call ended it."""
    with session_scope() as session:
        ended = _finish(session, job_id)
        if ended is not None:
            imports.start_waiting(
                session, org_id=ended, max_running=settings.max_running_imports_per_org
            )
    return ended is not None


def _finish(session: Session, job_id: str) -> str | None:
    job = get_for_update(session, ImportJob, job_id)
    if job is None or job.status != RUNNING or not job.listing_done:
        return None
    pending = session.scalar(
        select(ImportBatch.id)
        .where(ImportBatch.job_id == job_id, ImportBatch.status.in_(BATCH_PENDING))
        .limit(1)
    )
    if pending is not None:
        return None
    job.finished_at = utcnow()
    job.lister_token = job.lister_lease_until = None
    if job.unavailable:
        job.status, job.error = FAILED, unavailable_error(job.id, job.unavailable)
    else:
        job.status, job.error = SUCCEEDED, None
    webhooks.import_finished(session, job)
    return job.org_id


def fail(job_id: str, error: dict[str, Any], *, settings: Settings) -> None:
    """End a running import as failed (a job-wide error: no access, listing gave up)."""
    with session_scope() as session:
        job = get_for_update(session, ImportJob, job_id)
        if job is None or job.status != RUNNING:
            return
        job.status, job.error, job.finished_at = FAILED, error, utcnow()
        job.lister_token = job.lister_lease_until = None
        webhooks.import_finished(session, job)
        imports.start_waiting(
            session, org_id=job.org_id, max_running=settings.max_running_imports_per_org
        )
