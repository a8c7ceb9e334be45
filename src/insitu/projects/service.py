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
        org_id=org.id, name=data.name, self_hosted=self_hosted, allowed_kinds=data.allowed_kinds
    )
    session.add(project)
    session.flush()
    return project


def get(session: Session, *, org: Organization, project_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None or project.org_id != org.id:
        raise NotFound(
            f"project {project_id} does not exist", fix="list your projects with GET /v1/projects"
        )
    return project


def list_for_org(session: Session, *, org: Organization) -> Sequence[Project]:
    query = select(Project).where(Project.org_id == org.id).order_by(Project.created_at)
    return session.scalars(query).all()
