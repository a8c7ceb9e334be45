"""A project's Data Imports tab."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from insitu.api.deps import SessionDep
from insitu.imports import service as imports
from insitu.portal.deps import PortalCallerDep, require_csrf
from insitu.portal.pages import render
from insitu.projects import service as projects

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])


@router.get("/projects/{project_id}/imports")
def imports_tab(
    project_id: str, request: Request, session: SessionDep, caller: PortalCallerDep
) -> Response:
    project = projects.get(session, org=caller.org, project_id=project_id)
    jobs, _ = imports.list_for_project(session, project=project, after=None, limit=50)
    return render(
        request, "project_imports.html", caller=caller, project=project, tab="imports", jobs=jobs
    )
