"""The Projects page and the Create project dialog."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from insitu.api.deps import Caller, SessionDep
from insitu.assets import service as assets
from insitu.portal.deps import PortalCallerDep, require_csrf
from insitu.portal.pages import render
from insitu.projects import service as projects
from insitu.projects.schemas import ProjectCreate

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])


def projects_page(
    request: Request,
    session: Session,
    caller: Caller,
    *,
    error: str | None = None,
    name: str = "",
    status_code: int = 200,
) -> Response:
    listed = projects.list_for_org(session, org=caller.org)
    counts = assets.count_in_circulation(session, project_ids=[p.id for p in listed])
    return render(
        request,
        "projects.html",
        caller=caller,
        projects=listed,
        counts=counts,
        create_error=error,
        create_name=name,
        status_code=status_code,
    )


@router.get("/projects")
def list_projects(request: Request, session: SessionDep, caller: PortalCallerDep) -> Response:
    return projects_page(request, session, caller)


@router.post("/projects")
def create_project(
    request: Request,
    session: SessionDep,
    caller: PortalCallerDep,
    name: Annotated[str, Form()] = "",
    self_hosted: Annotated[bool, Form()] = False,
) -> Response:
    try:
        data = ProjectCreate(name=name, self_hosted=self_hosted)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        return projects_page(
            request,
            session,
            caller,
            error=f"The name {problem.lower()}.",
            name=name,
            status_code=422,
        )
    project = projects.create(session, org=caller.org, data=data)
    return RedirectResponse(f"/projects/{project.id}/imports", status_code=303)


@router.get("/projects/{project_id}")
def open_project(project_id: str, session: SessionDep, caller: PortalCallerDep) -> Response:
    project = projects.get(session, org=caller.org, project_id=project_id)
    return RedirectResponse(f"/projects/{project.id}/imports", status_code=303)
