"""Import jobs: creating, reading, resuming and canceling them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from insitu import jobs
from insitu.config import Settings
from insitu.connections import service as connections
from insitu.db import keyset_page, utcnow
from insitu.errors import Conflict, InvalidInput, InvalidLocation, NotFound
from insitu.imports.models import (
    CANCELED,
    FINISHED_STATUSES,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    ImportFailure,
    ImportJob,
)
from insitu.imports.schemas import ImportCounts, ImportCreate, ImportProgress, ImportRead
from insitu.organizations.models import Organization
from insitu.projects.models import Project
from insitu.storage.base import Location

RUN_TASK = "imports.run"
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
) -> ImportJob:
    """Validate the source and files, record the job, and queue it once committed."""
    connection = connections.get(session, org=org, connection_id=data.connection_id)
    location = connections.location_for(connection, data.source)
    files = None
    if data.source_files is not None:
        if not data.source_files:
            raise InvalidInput(
                "source_files is empty: there is nothing to import",
                fix="name at least one file, or leave source_files out to import the prefix",
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
    if enqueue:
        jobs.enqueue(session, RUN_TASK, job_id=job.id)
    return job


def relative_key(source: Location, name: str) -> str:
    """The object key a ``source_files`` entry names, refusing anything outside ``source``."""
    if "://" in name:
        from insitu.storage.registry import parse_location

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
    return keyset_page(session, query, ImportJob, after=after, limit=limit)


def list_failures(
    session: Session, *, job: ImportJob, after: str | None, limit: int
) -> tuple[Sequence[ImportFailure], str | None]:
    query = select(ImportFailure).where(ImportFailure.job_id == job.id)
    return keyset_page(session, query, ImportFailure, after=after, limit=limit)


def resume(session: Session, *, job: ImportJob, force: bool = False) -> ImportJob:
    """Put an interrupted job back in the queue; it continues where it last committed."""
    if job.status == SUCCEEDED:
        raise Conflict(f"import {job.id} already finished", fix="start a new import instead")
    if job.status == RUNNING and not force and not is_stale(job):
        raise Conflict(
            f"import {job.id} is still running (last progress at {job.heartbeat_at})",
            fix="wait for it, or pass --force if its worker is known to be dead",
        )
    job.status = QUEUED
    job.error = None
    job.finished_at = None
    session.flush()
    return job


def cancel(
    session: Session, *, job: ImportJob, remove_assets: bool = False, by: str = "system"
) -> int:
    """Stop the import after the page in flight; with ``remove_assets`` its assets leave.

    Returns how many assets left circulation. The job row is locked first, so a page the
    runner is committing lands before the cancel (and its assets are removed with the rest)
    or not at all.
    """
    session.refresh(job, with_for_update=True)
    if job.status not in FINISHED_STATUSES:
        job.status = CANCELED
        job.finished_at = utcnow()
        session.flush()
    if not remove_assets:
        return 0
    from insitu.assets import service as assets

    return assets.remove_for_import(session, job_id=job.id, by=by)


def is_stale(job: ImportJob) -> bool:
    beat = job.heartbeat_at or job.started_at
    return beat is None or utcnow() - beat > STALE_AFTER


def interrupted(session: Session) -> Sequence[ImportJob]:
    """Jobs never started or abandoned by a dead worker."""
    rows = session.scalars(select(ImportJob).where(ImportJob.status.in_((QUEUED, RUNNING))))
    return [job for job in rows if job.status == QUEUED or is_stale(job)]


def read(job: ImportJob) -> ImportRead:
    done = job.imported + job.already_present + job.failed
    if job.source_files is not None:
        total: int | None = len(job.source_files)
    else:
        total = job.listed if job.listing_done else None
    fraction = (done / total if total else 1.0) if total is not None else None
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
        progress=ImportProgress(done=done, total=total, fraction=fraction),
        bytes_read=job.bytes_read,
        requests=job.requests,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )
