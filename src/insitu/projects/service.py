"""Projects: self-hosted unless the org's default or the request says otherwise."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from insitu.errors import NotFound
from insitu.organizations.models import Organization
from insitu.projects.models import Project
from insitu.projects.schemas import ProjectCreate


def create(session: Session, *, org: Organization, data: ProjectCreate) -> Project:
    self_hosted = org.self_host_default if data.self_hosted is None else data.self_hosted
    project = Project(
        org_id=org.id,
        name=data.name,
        self_hosted=self_hosted,
        allowed_kinds=data.allowed_kinds,
        import_new_files=data.import_new_files,
    )
    session.add(project)
    session.flush()
    return project


def get(session: Session, *, org: Organization, project_id: str) -> Project:
    """The org's project; another org's is simply not found."""
    project = session.get(Project, project_id)
    if project is None or project.org_id != org.id:
        raise _not_found(project_id)
    return project


def get_any(session: Session, *, project_id: str) -> Project:
    """Any org's project, for the operator's CLI on the server."""
    project = session.get(Project, project_id)
    if project is None:
        raise _not_found(project_id)
    return project


def _not_found(project_id: str) -> NotFound:
    return NotFound(
        f"project {project_id} does not exist", fix="list your projects with GET /v1/projects"
    )


def list_for_org(session: Session, *, org: Organization) -> Sequence[Project]:
    """The org's projects, newest first."""
    query = (
        select(Project)
        .where(Project.org_id == org.id)
        .order_by(Project.created_at.desc(), Project.id.desc())
    )
    return session.scalars(query).all()
