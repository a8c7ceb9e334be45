"""An import's source, opened for a worker: its store, location and probe options."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from insitu.config import Settings
from insitu.connections import service as connections
from insitu.connections.models import Connection
from insitu.imports.models import ImportJob
from insitu.media import ProbeOptions
from insitu.organizations.models import Organization
from insitu.projects.models import Project
from insitu.storage.base import Location, ObjectStore


@dataclass
class Source:
    job: ImportJob  # as read when the work was claimed (ids, source, source_files)
    store: ObjectStore
    location: Location
    options: ProbeOptions


def open_source(session: Session, job: ImportJob, settings: Settings) -> Source:
    """Raises InsituError when the connection cannot reach the source (a job-wide failure)."""
    org = session.get_one(Organization, job.org_id)
    project = session.get_one(Project, job.project_id)
    connection = session.get_one(Connection, job.connection_id)
    location = connections.location_for(connection, job.source)
    store = connections.open_store(connection, org=org, location=location, settings=settings)
    kinds = frozenset(project.allowed_kinds) if project.allowed_kinds else None
    options = ProbeOptions.from_settings(settings, allowed_kinds=kinds)
    return Source(job, store, location, options)
