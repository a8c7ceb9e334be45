"""A project's Data Imports tab: past imports, starting one, watching it, canceling it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from insitu.api.deps import SessionDep, SettingsDep
from insitu.db import utcnow
from insitu.errors import InsituError, InvalidInput, NotFound
from insitu.imports import service as imports
from insitu.imports.models import FINISHED_STATUSES, ImportFailure, ImportJob
from insitu.imports.schemas import ImportCreate, ImportRead
from insitu.portal.deps import FormDep, PortalCallerDep, require_csrf
from insitu.portal.pages import render
from insitu.portal.routes.add_data import add_data_page
from insitu.projects import service as projects
from insitu.projects.models import Project

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])

PAST_IMPORTS = 50
FAILURES_SHOWN = 100


@router.get("/projects/{project_id}/imports")
def imports_tab(
    project_id: str, request: Request, session: SessionDep, caller: PortalCallerDep
) -> Response:
    project = projects.get(session, org=caller.org, project_id=project_id)
    jobs = imports.list_for_project(session, project=project, after=None, limit=PAST_IMPORTS)[0]
    return render(
        request, "project_imports.html", caller=caller, project=project, tab="imports", jobs=jobs
    )


@router.post("/projects/{project_id}/imports")
def start_import(
    project_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    caller: PortalCallerDep,
    posted: FormDep,
) -> Response:
    """Import: the path (or the files pasted under it) through the chosen connection."""
    project = projects.get(session, org=caller.org, project_id=project_id)
    form = {key: value for key, value in posted.items() if isinstance(value, str)}
    files = [line.strip() for line in form.get("source_files", "").splitlines() if line.strip()]
    try:
        if not form.get("connection_id"):
            raise InvalidInput(
                "no connection is chosen", fix="choose a connection, or create a New connection"
            )
        if not form.get("source", "").strip():
            raise InvalidInput(
                "no path is entered", fix="enter the absolute path of the folder or file to import"
            )
        try:
            data = ImportCreate(
                source=form["source"].strip(),
                connection_id=form["connection_id"],
                source_files=files or None,
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            where = " ".join(str(part) for part in error["loc"])
            raise InvalidInput(
                f"the {where.replace('_', ' ')} is not usable: {error['msg'].lower()}",
                fix="shorten it, or import the files' common folder instead",
            ) from exc
        job = imports.create(
            session,
            org=caller.org,
            project=project,
            data=data,
            settings=settings,
            actor=caller.actor,
        )
    except InsituError as exc:
        session.rollback()
        return add_data_page(
            request,
            session,
            caller=caller,
            settings=settings,
            project=project,
            provider=form.get("provider"),
            form=form,
            error=exc,
            status_code=exc.status_code,
        )
    return RedirectResponse(f"/projects/{project.id}/imports/{job.id}", status_code=303)


def _job(session: Session, caller: PortalCallerDep, project_id: str, job_id: str) -> ImportJob:
    """The org's import of this project; another project's or org's is not found."""
    project = projects.get(session, org=caller.org, project_id=project_id)
    job = imports.get(session, org=caller.org, job_id=job_id)
    if job.project_id != project.id:
        raise NotFound(
            f"import {job_id} does not exist in this project",
            fix="open it from the project's Data Imports tab",
        )
    return job


@dataclass(frozen=True)
class Progress:
    """What a person watching an import sees: counts, how far, how fast, what failed."""

    job: ImportJob
    read: ImportRead
    finished: bool
    cancelable: bool
    rate: float | None
    seconds: float | None
    failures: list[ImportFailure]

    @property
    def percent(self) -> int | None:
        fraction = self.read.progress.fraction
        return None if fraction is None else round(fraction * 100)


def progress_of(session: Session, job: ImportJob) -> Progress:
    read = imports.read(job)
    finished = job.status in FINISHED_STATUSES
    seconds = None
    if job.started_at is not None:
        seconds = max(((job.finished_at or utcnow()) - job.started_at).total_seconds(), 0.001)
    rate = read.progress.rate
    failures = list(imports.list_failures(session, job=job, after=None, limit=FAILURES_SHOWN)[0])
    return Progress(job, read, finished, not finished, rate, seconds, failures)


def _project(session: Session, caller: PortalCallerDep, job: ImportJob) -> Project:
    return projects.get(session, org=caller.org, project_id=job.project_id)


@router.get("/projects/{project_id}/imports/{job_id}")
def import_page(
    project_id: str,
    job_id: str,
    request: Request,
    session: SessionDep,
    caller: PortalCallerDep,
    canceled: int | None = None,
) -> Response:
    job = _job(session, caller, project_id, job_id)
    return render(
        request,
        "import_job.html",
        caller=caller,
        project=_project(session, caller, job),
        tab="imports",
        p=progress_of(session, job),
        assets_removed=canceled,
    )


@router.get("/projects/{project_id}/imports/{job_id}/progress")
def import_progress(
    project_id: str, job_id: str, request: Request, session: SessionDep, caller: PortalCallerDep
) -> Response:
    """The live part of the import page, polled every second until the import is finished."""
    job = _job(session, caller, project_id, job_id)
    return render(
        request, "_import_progress.html", caller=caller, p=progress_of(session, job), oob=True
    )


@router.post("/projects/{project_id}/imports/{job_id}/cancel")
def cancel_import(
    project_id: str,
    job_id: str,
    session: SessionDep,
    caller: PortalCallerDep,
    remove_assets: Annotated[bool, Form()] = False,
) -> Response:
    job = _job(session, caller, project_id, job_id)
    removed = imports.cancel(session, job=job, actor=caller.actor, remove_assets=remove_assets)
    return RedirectResponse(
        f"/projects/{project_id}/imports/{job.id}?canceled={removed}", status_code=303
    )
