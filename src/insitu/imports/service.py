"""Import jobs: creating, reading, resuming and canceling them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased, object_session

from insitu import jobs
from insitu.audit import service as audit
from insitu.audit.service import OPERATOR, Actor
from insitu.config import Settings
from insitu.connections import service as connections
from insitu.db import newest_first_page, utcnow
from insitu.errors import Conflict, InvalidInput, InvalidLocation, NotFound
from insitu.imports.models import (
    BATCH_CANCELED,
    BATCH_DONE,
    BATCH_GIVEN_UP,
    BATCH_PENDING,
    BATCH_QUEUED,
    BATCH_RUNNING,
    CANCELED,
    FINISHED_STATUSES,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    ImportBatch,
    ImportFailure,
    ImportJob,
)
from insitu.imports.schemas import (
    MAX_SOURCE_FILES,
    ImportBatches,
    ImportCounts,
    ImportCreate,
    ImportProgress,
    ImportRead,
)
from insitu.organizations.models import Organization
from insitu.projects.models import Project
from insitu.storage.base import Location
from insitu.storage.registry import check_plain_text, parse_location

RUN_TASK = "imports.run"  # an import's lister; it records batches for "imports.batch"
# The failure code of files given up because the store stayed busy or unavailable.
UNAVAILABLE_CODE = "storage_unavailable"
# A running job whose worker has not written for this long is taken to have died.
STALE_AFTER = timedelta(minutes=2)


def create(
    session: Session,
    *,
    org: Organization,
    project: Project,
    data: ImportCreate,
    settings: Settings,
    enqueue: bool = True,
    actor: Actor = OPERATOR,
) -> ImportJob:
    """Validate the source and files, record the job, and queue it once committed."""
    check_plain_text(data.source, what="source")
    connection = connections.get(session, org=org, connection_id=data.connection_id)
    location = connections.location_for(connection, data.source)
    files = None
    if data.source_files is not None:
        if not data.source_files:
            raise InvalidInput(
                "source_files is empty: there is nothing to import",
                fix="name at least one file, or leave source_files out to import the prefix",
            )
        if len(data.source_files) > MAX_SOURCE_FILES:
            raise InvalidInput(
                f"source_files names {len(data.source_files):,} files; one import takes at "
                f"most {MAX_SOURCE_FILES:,}",
                fix=f"split the list over several imports of up to {MAX_SOURCE_FILES:,} "
                "files each, or import the files' common prefix without source_files",
            )
        # Naming a file twice imports it once.
        files = list(dict.fromkeys(relative_key(location, name) for name in data.source_files))
    elif not location.is_prefix:
        files = [location.key]  # a single file: import exactly it, not keys it prefixes
    job = ImportJob(
        org_id=org.id,
        project_id=project.id,
        connection_id=connection.id,
        source=location.uri,
        source_files=files,
    )
    session.add(job)
    session.flush()
    audit.record(session, actor=actor, action="import.created", org_id=org.id, **_audited(job))
    if enqueue:
        jobs.enqueue(session, RUN_TASK, job_id=job.id)
    return job


def relative_key(source: Location, name: str) -> str:
    """The object key a ``source_files`` entry names, refusing anything outside ``source``."""
    check_plain_text(name, what="source file")
    if "://" in name:
        named = parse_location(name)
        if (named.provider, named.account, named.bucket) != (
            source.provider,
            source.account,
            source.bucket,
        ) or not named.key.startswith(_prefix(source)):
            raise InvalidLocation(
                f"source file {name!r} is not under the import source {source.uri!r}",
                fix="list only files under the source, as keys relative to it or full URIs",
            )
        key = named.key
    else:
        if not name or name.endswith("/"):
            raise InvalidLocation(
                f"source file {name!r} names no file", fix="give each file's key, e.g. 'a/b.png'"
            )
        key = _prefix(source) + name.lstrip("/")
    if any(segment in (".", "..") for segment in key.split("/")):
        raise InvalidLocation(
            f"source file {name!r} has a '.' or '..' path segment",
            fix="name each file by its plain key under the source, e.g. 'scans/a.dcm'",
        )
    return key


def _prefix(source: Location) -> str:
    """The folder of ``source``: itself for a prefix, its parent for a single file."""
    if source.is_prefix:
        return source.key
    parent, slash, _ = source.key.rpartition("/")
    return parent + slash


def get(session: Session, *, org: Organization, job_id: str) -> ImportJob:
    """The org's import; another org's is simply not found."""
    job = session.get(ImportJob, job_id)
    if job is None or job.org_id != org.id:
        raise _not_found(job_id)
    return job


def get_any(session: Session, *, job_id: str) -> ImportJob:
    """Any org's import, for the operator's CLI on the server."""
    job = session.get(ImportJob, job_id)
    if job is None:
        raise _not_found(job_id)
    return job


def _not_found(job_id: str) -> NotFound:
    return NotFound(
        f"import {job_id} does not exist",
        fix="list a project's imports with GET /v1/projects/{id}/imports",
    )


def list_for_project(
    session: Session, *, project: Project, after: str | None, limit: int
) -> tuple[Sequence[ImportJob], str | None]:
    query = select(ImportJob).where(ImportJob.project_id == project.id)
    return newest_first_page(session, query, ImportJob, after=after, limit=limit)


def list_failures(
    session: Session, *, job: ImportJob, after: str | None, limit: int
) -> tuple[Sequence[ImportFailure], str | None]:
    query = select(ImportFailure).where(ImportFailure.job_id == job.id)
    return newest_first_page(session, query, ImportFailure, after=after, limit=limit)


def resume(session: Session, *, job: ImportJob, force: bool = False) -> ImportJob:
    """Put an interrupted job back in the queue; it continues where it last committed.

    Files given up because the store stayed unavailable are tried again: their failures
    (and counts) are taken back and their batches queued anew.
    """
    if job.status == SUCCEEDED:
        raise Conflict(f"import {job.id} already finished", fix="start a new import instead")
    if job.status == RUNNING and not force and not is_stale(job):
        raise Conflict(
            f"import {job.id} is still running (last progress at {job.heartbeat_at})",
            fix="wait for it, or pass --force if its worker is known to be dead",
        )
    # The batches before the import's row, as a batch's commit takes them (see cancel).
    session.execute(
        update(ImportBatch)
        .where(
            ImportBatch.job_id == job.id,
            ImportBatch.status.in_((BATCH_CANCELED, BATCH_RUNNING)),
        )
        .values(status=BATCH_QUEUED, token=None, lease_until=None, not_before=None)
    )
    session.refresh(job, with_for_update=True)
    _retry_given_up(session, job)
    job.status = QUEUED
    job.error = None
    job.finished_at = None
    job.lister_token = job.lister_lease_until = None
    job.list_attempts = 0
    session.flush()
    return job


def _retry_given_up(session: Session, job: ImportJob) -> None:
    given_up = list(
        session.scalars(
            select(ImportBatch).where(
                ImportBatch.job_id == job.id, ImportBatch.status == BATCH_GIVEN_UP
            )
        )
    )
    if not given_up:
        return
    failures = delete(ImportFailure).where(
        ImportFailure.job_id == job.id, ImportFailure.code == UNAVAILABLE_CODE
    )
    taken_back = session.execute(failures).rowcount  # type: ignore[attr-defined]
    job.failed -= taken_back
    job.unavailable = 0
    for batch in given_up:
        batch.status, batch.attempts, batch.error, batch.finished_at = BATCH_QUEUED, 0, None, None


def cancel(
    session: Session, *, job: ImportJob, actor: Actor = OPERATOR, remove_assets: bool = False
) -> int:
    """Stop the import after the page in flight; with ``remove_assets`` its assets leave.

    Returns how many assets left circulation. A batch being written as the cancel comes
    lands before it (and its assets are removed with the rest); one written after finds its
    import canceled and writes nothing. Withdrawing a finished import's assets cancels it
    too, so a reconcile does not import its prefix's files again.
    """
    # The batches first, then the import's row: the order a batch's own commit takes them in
    # (its row, then the import's counters). The other order deadlocked on PostgreSQL.
    _cancel_batches(session, job.id)
    session.refresh(job, with_for_update=True)
    was = job.status
    if job.status not in FINISHED_STATUSES or remove_assets:
        if was not in FINISHED_STATUSES:
            job.error = None  # a running import's error is only what its listing waits out
        job.status = CANCELED
        job.finished_at = job.finished_at or utcnow()
        job.lister_token = job.lister_lease_until = None
        session.flush()
        # Batches a page or a retry added while the first pass ran. Rows a batch's commit
        # holds are skipped, not waited for: that commit waits for this one, then writes
        # nothing, as the import is canceled.
        _cancel_batches(session, job.id, skip_locked=True)
    removed = 0
    if remove_assets:
        from insitu.assets import service as assets

        job.assets_withdrawn = True
        removed = assets.remove_for_import(session, job_id=job.id, by=actor.id)
    target = _audited(job)
    target["details"] |= {"was": was, "assets_removed": removed}
    audit.record(session, actor=actor, action="import.canceled", org_id=job.org_id, **target)
    return removed


def _cancel_batches(session: Session, job_id: str, *, skip_locked: bool = False) -> None:
    pending = (
        select(ImportBatch.id)
        .where(ImportBatch.job_id == job_id, ImportBatch.status.in_(BATCH_PENDING))
        .with_for_update(skip_locked=skip_locked)
    )
    session.execute(
        update(ImportBatch)
        .where(ImportBatch.id.in_(pending.scalar_subquery()))
        .values(status=BATCH_CANCELED, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def _audited(job: ImportJob) -> dict[str, Any]:
    """What the audit log says about an import: which one, of what, into where."""
    files = len(job.source_files) if job.source_files is not None else None
    return {
        "target_type": "import",
        "target_id": job.id,
        "details": {"project_id": job.project_id, "source": job.source, "source_files": files},
    }


def claim(session: Session, job_id: str, *, max_running: int) -> datetime | None:
    """Mark the job running if it is queued (or abandoned) and its org has a free slot.

    One claimant wins any race, and an org never has more than ``max_running`` imports
    running: a job refused for want of a slot stays queued, and whichever of the org's runs
    finishes next starts it (:func:`start_waiting`). Returns the heartbeat this run wrote
    (its claim), or None when it did not win.
    """
    org_id = session.scalar(select(ImportJob.org_id).where(ImportJob.id == job_id))
    if org_id is None:
        return None
    # Claims of one org take turns (a row lock on PostgreSQL; SQLite has one writer anyway),
    # so two workers cannot both take its last free slot.
    session.execute(select(Organization.id).where(Organization.id == org_id).with_for_update())
    now = utcnow()
    stale_before = now - STALE_AFTER
    other = aliased(ImportJob)  # not the row being updated: counted apart from it
    running = (
        select(func.count())
        .select_from(other)
        .where(
            other.org_id == org_id,
            other.id != job_id,
            other.status == RUNNING,
            other.heartbeat_at >= stale_before,
        )
        .scalar_subquery()
    )
    statement = (
        update(ImportJob)
        .where(
            ImportJob.id == job_id,
            or_(
                ImportJob.status == QUEUED,
                and_(ImportJob.status == RUNNING, ImportJob.heartbeat_at < stale_before),
            ),
            running < max_running,
        )
        .values(
            status=RUNNING,
            heartbeat_at=now,
            started_at=func.coalesce(ImportJob.started_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    claimed: bool = session.execute(statement).rowcount == 1  # type: ignore[attr-defined]
    return now if claimed else None


def start_waiting(session: Session, *, org_id: str, max_running: int) -> list[str]:
    """Queue the org's oldest waiting imports for the slots free now (once committed).

    A job may be handed to a worker twice this way; the second claim finds it taken.
    """
    stale_before = utcnow() - STALE_AFTER
    running = session.scalar(
        select(func.count())
        .select_from(ImportJob)
        .where(
            ImportJob.org_id == org_id,
            ImportJob.status == RUNNING,
            ImportJob.heartbeat_at >= stale_before,
        )
    )
    free = max_running - (running or 0)
    if free <= 0:
        return []
    waiting = list(
        session.scalars(
            select(ImportJob.id)
            .where(ImportJob.org_id == org_id, ImportJob.status == QUEUED)
            .order_by(ImportJob.created_at, ImportJob.id)
            .limit(free)
        )
    )
    for job_id in waiting:
        jobs.enqueue(session, RUN_TASK, job_id=job_id)
    return waiting


def is_stale(job: ImportJob) -> bool:
    beat = job.heartbeat_at or job.started_at
    return beat is None or utcnow() - beat > STALE_AFTER


def batch_counts(session: Session, *, job_id: str) -> ImportBatches:
    rows = session.execute(
        select(ImportBatch.status, func.count())
        .where(ImportBatch.job_id == job_id)
        .group_by(ImportBatch.status)
    )
    counts: dict[str, int] = {row[0]: row[1] for row in rows}
    return ImportBatches(
        queued=counts.get(BATCH_QUEUED, 0),
        running=counts.get(BATCH_RUNNING, 0),
        done=counts.get(BATCH_DONE, 0),
        given_up=counts.get(BATCH_GIVEN_UP, 0),
    )


RECENT = timedelta(minutes=1)  # the window of an import's recent rate


def recent_rate(session: Session, job: ImportJob) -> float:
    """Files of the batches written in the last minute (or since the start), per second."""
    now = utcnow()
    since = max(job.started_at or now, now - RECENT)
    files = session.scalar(
        select(func.coalesce(func.sum(ImportBatch.size), 0)).where(
            ImportBatch.job_id == job.id,
            ImportBatch.status == BATCH_DONE,
            ImportBatch.finished_at >= since,
        )
    )
    seconds = max((now - since).total_seconds(), 1.0)
    return round((files or 0) / seconds, 1)


def read(job: ImportJob) -> ImportRead:
    done = job.imported + job.already_present + job.failed
    if job.source_files is not None:
        total: int | None = len(job.source_files)
    else:
        total = job.listed if job.listing_done else None
    fraction = (done / total if total else 1.0) if total is not None else None
    session = object_session(job)
    batches = batch_counts(session, job_id=job.id) if session is not None else None
    rate = lately = None
    if job.started_at is not None:
        seconds = ((job.finished_at or utcnow()) - job.started_at).total_seconds()
        rate = round(done / seconds, 1) if seconds > 0 else None
        if session is not None and job.status == RUNNING:
            lately = recent_rate(session, job)
    return ImportRead(
        id=job.id,
        project_id=job.project_id,
        connection_id=job.connection_id,
        source=job.source,
        source_files=len(job.source_files) if job.source_files is not None else None,
        status=job.status,
        counts=ImportCounts(
            listed=job.listed,
            imported=job.imported,
            already_present=job.already_present,
            failed=job.failed,
        ),
        progress=ImportProgress(
            done=done, total=total, fraction=fraction, rate=rate, recent_rate=lately
        ),
        batches=batches,
        bytes_read=job.bytes_read,
        requests=job.requests,
        # A running import's error is the transient one its listing is waiting out.
        error=None if job.status == RUNNING else job.error,
        warning=job.error if job.status == RUNNING else None,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )
