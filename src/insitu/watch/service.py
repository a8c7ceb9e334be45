"""Watching a project: which prefixes follow storage events, and which queues need a consumer.

A watched project's prefixes are its import roots (``reconcile.runner.roots_of``): every
prefix it imported from through a live connection. Each of those connections must deliver
storage events, so a watch is refused, saying what to set, when one cannot.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from insitu.audit import service as audit
from insitu.audit.service import Actor
from insitu.config import Settings
from insitu.connections import service as connections
from insitu.connections.models import Connection
from insitu.errors import Conflict, EventsUnsupported
from insitu.imports.models import ImportJob
from insitu.projects.models import Project
from insitu.reconcile.runner import roots_of
from insitu.storage.registry import events_provider
from insitu.watch import lease
from insitu.watch.models import ProjectWatch
from insitu.watch.schemas import WatchedPrefix, WatchRead


def start(session: Session, *, project: Project, settings: Settings, actor: Actor) -> WatchRead:
    """Watch ``project``'s import prefixes; refused if any connection delivers no events."""
    roots = roots_of(session, project=project)
    if not roots:
        raise Conflict(
            f"project {project.id} has imported nothing yet, so it has no prefix to watch",
            fix="import a prefix first (POST /v1/projects/{id}/imports), then watch the project",
        )
    for connection_id in sorted({root.connection_id for root in roots}):
        connection = session.get_one(Connection, connection_id)
        provider = events_provider(connection.provider)  # raises for one without events
        if connections.event_queue(connection, settings=settings) is None:
            raise EventsUnsupported(
                f"connection {connection.id} ({connection.provider}), which project "
                f"{project.id} imported from, names no queue for its bucket's events",
                fix=f"{provider.events_setting}, import through it, and apply "
                "GET /v1/connections/ID/events/setup",
            )
    if session.scalar(select(ProjectWatch.id).where(ProjectWatch.project_id == project.id)):
        return status(session, project=project, settings=settings)
    session.add(ProjectWatch(org_id=project.org_id, project_id=project.id, started_by=actor.id))
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="project.watch_started",
        org_id=project.org_id,
        target_type="project",
        target_id=project.id,
        details={"prefixes": [root.location.uri for root in roots]},
    )
    return status(session, project=project, settings=settings)


def stop(session: Session, *, project: Project, actor: Actor) -> None:
    """Stop following ``project``'s buckets' events (reconciles go on as before)."""
    gone = session.execute(delete(ProjectWatch).where(ProjectWatch.project_id == project.id))
    if gone.rowcount:  # type: ignore[attr-defined]
        audit.record(
            session,
            actor=actor,
            action="project.watch_stopped",
            org_id=project.org_id,
            target_type="project",
            target_id=project.id,
        )


def status(session: Session, *, project: Project, settings: Settings) -> WatchRead:
    """Whether ``project`` is watched, and each watched prefix's queue and consumer."""
    watch = session.scalar(select(ProjectWatch).where(ProjectWatch.project_id == project.id))
    prefixes = []
    if watch is not None:
        for root in roots_of(session, project=project):
            connection = session.get_one(Connection, root.connection_id)
            queue = connections.event_queue(connection, settings=settings)
            if queue is None:
                continue
            held = lease.get(session, queue=queue)
            prefixes.append(
                WatchedPrefix(
                    source=root.location.uri,
                    connection_id=root.connection_id,
                    queue=queue,
                    consuming=not lease.free(session, queue=queue),
                    events_applied=held.events_applied if held else 0,
                    last_event_at=held.last_event_at if held else None,
                    last_error=held.last_error if held else None,
                )
            )
    return WatchRead(
        project_id=project.id,
        watching=watch is not None,
        since=watch.created_at if watch else None,
        prefixes=prefixes,
    )


def watched_queues(session: Session, *, settings: Settings) -> dict[str, str]:
    """Queue -> the connection to consume it with, for every connection a watch reads."""
    connection_ids = session.scalars(
        select(ImportJob.connection_id)
        .join(ProjectWatch, ProjectWatch.project_id == ImportJob.project_id)
        .join(Connection, Connection.id == ImportJob.connection_id)
        .where(Connection.deleted_at.is_(None))
        .distinct()
    ).all()
    queues: dict[str, str] = {}
    for connection_id in sorted(connection_ids):
        connection = session.get_one(Connection, connection_id)
        queue = connections.event_queue(connection, settings=settings)
        if queue is not None:
            queues.setdefault(queue, connection_id)
    return queues
