from __future__ import annotations

from fastapi import APIRouter, status

from insitu.api.deps import AfterQuery, CallerDep, LimitQuery, SessionDep, SettingsDep
from insitu.imports import service as imports
from insitu.imports.schemas import (
    ImportCancel,
    ImportCanceledRead,
    ImportCreate,
    ImportFailureRead,
    ImportRead,
)
from insitu.projects import service as projects
from insitu.schemas import Page

router = APIRouter(tags=["imports"])


@router.post("/v1/projects/{project_id}/imports", status_code=status.HTTP_202_ACCEPTED)
def create_import(
    project_id: str,
    data: ImportCreate,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
) -> ImportRead:
    """Queue an import of a prefix, or of ``source_files`` under it; poll the returned job."""
    project = projects.get(session, org=caller.org, project_id=project_id)
    job = imports.create(
        session, org=caller.org, project=project, data=data, settings=settings, actor=caller.actor
    )
    return imports.read(job)


@router.get("/v1/projects/{project_id}/imports")
def list_imports(
    project_id: str,
    caller: CallerDep,
    session: SessionDep,
    after: AfterQuery = None,
    limit: LimitQuery = 100,
) -> Page[ImportRead]:
    """A project's imports, with their status and counts."""
    project = projects.get(session, org=caller.org, project_id=project_id)
    rows, next_cursor = imports.list_for_project(session, project=project, after=after, limit=limit)
    return Page(items=[imports.read(job) for job in rows], next=next_cursor)


@router.get("/v1/imports/{job_id}")
def get_import(job_id: str, caller: CallerDep, session: SessionDep) -> ImportRead:
    return imports.read(imports.get(session, org=caller.org, job_id=job_id))


@router.post("/v1/imports/{job_id}/cancel")
def cancel_import(
    job_id: str, caller: CallerDep, session: SessionDep, data: ImportCancel | None = None
) -> ImportCanceledRead:
    """Stop an import after the page in flight; ``remove_assets`` also takes its assets out."""
    job = imports.get(session, org=caller.org, job_id=job_id)
    removed = imports.cancel(
        session,
        job=job,
        actor=caller.actor,
        remove_assets=bool(data and data.remove_assets),
    )
    return ImportCanceledRead(**imports.read(job).model_dump(), assets_removed=removed)


@router.get("/v1/imports/{job_id}/failures")
def list_import_failures(
    job_id: str,
    caller: CallerDep,
    session: SessionDep,
    after: AfterQuery = None,
    limit: LimitQuery = 100,
) -> Page[ImportFailureRead]:
    job = imports.get(session, org=caller.org, job_id=job_id)
    rows, next_cursor = imports.list_failures(session, job=job, after=after, limit=limit)
    return Page(items=[ImportFailureRead.model_validate(row) for row in rows], next=next_cursor)
