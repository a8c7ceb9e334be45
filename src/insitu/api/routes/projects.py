from __future__ import annotations

from fastapi import APIRouter, status

from insitu.api.deps import CallerDep, ReaderDep, SessionDep
from insitu.projects import service as projects
from insitu.projects.schemas import ProjectCreate, ProjectRead

router = APIRouter(prefix="/v1/projects", tags=["projects"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_project(data: ProjectCreate, caller: CallerDep, session: SessionDep) -> ProjectRead:
    """A project; self-hosted unless ``self_hosted`` or the org's default says otherwise."""
    return ProjectRead.model_validate(projects.create(session, org=caller.org, data=data))


@router.get("")
def list_projects(caller: ReaderDep, session: SessionDep) -> list[ProjectRead]:
    return [ProjectRead.model_validate(p) for p in projects.list_for_org(session, org=caller.org)]


@router.get("/{project_id}")
def get_project(project_id: str, caller: ReaderDep, session: SessionDep) -> ProjectRead:
    project = projects.get(session, org=caller.org, project_id=project_id)
    return ProjectRead.model_validate(project)
