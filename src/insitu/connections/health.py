"""Access health: every connection in use is verified on a schedule against its own files.

A connection is *in use* while it has assets in circulation or an import queued or running.
Every INSITU_HEALTH_INTERVAL_SECONDS the schedule queues the ``connections.health_check`` task
for each one not checked for that long, on whichever job backend is configured (workers, at
scale). The task runs verify's own checks (role or token, list, HEAD, ranged read, signed URL
fetch, CORS for the portal origins) on a few of the connection's files and records the
outcome as its health: ``ok``, ``degraded`` or ``failing``. A failing connection keeps its
assets (their files are still there); signed URLs for them are refused with a 503 naming the
failing check and its fix until a check passes again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import ColumnElement, and_, exists, or_, select, update
from sqlalchemy.orm import Session

from insitu import jobs
from insitu.assets.models import ACTIVE, Asset
from insitu.audit.service import Actor
from insitu.config import Settings
from insitu.connections import service as connections
from insitu.connections import stores
from insitu.connections.models import Connection
from insitu.connections.schemas import ConnectionUpdate
from insitu.db import utcnow
from insitu.imports.models import QUEUED, RUNNING, ImportJob
from insitu.organizations.models import Organization

log = logging.getLogger(__name__)

HEALTH_TASK = "connections.health_check"
# Files verified per check: enough to catch one bucket of several gone bad, few enough that
# an hourly check costs a handful of requests per connection.
SAMPLES = 3


def in_use() -> ColumnElement[bool]:
    """The condition on Connection: live, with assets in circulation or an import under way."""
    circulating = exists().where(Asset.connection_id == Connection.id, Asset.status == ACTIVE)
    importing = exists().where(
        ImportJob.connection_id == Connection.id, ImportJob.status.in_((QUEUED, RUNNING))
    )
    return and_(Connection.deleted_at.is_(None), or_(circulating, importing))


def sample_sources(session: Session, *, connection: Connection) -> list[str]:
    """Up to SAMPLES locations to verify: files in circulation, else running imports' sources."""
    files = session.scalars(
        select(Asset.location)
        .where(Asset.connection_id == connection.id, Asset.status == ACTIVE)
        .limit(SAMPLES)
    ).all()
    if files:
        return list(files)
    sources = session.scalars(
        select(ImportJob.source)
        .where(ImportJob.connection_id == connection.id, ImportJob.status.in_((QUEUED, RUNNING)))
        .distinct()
        .limit(SAMPLES)
    ).all()
    return list(sources)


def check(session: Session, *, connection: Connection, settings: Settings) -> str | None:
    """Check one connection now; its health, or None if it is not in use (nothing checked)."""
    if connection.deleted_at is not None:
        return None
    sources = sample_sources(session, connection=connection)
    if not sources:
        return None
    org = session.get_one(Organization, connection.org_id)
    return connections.check_health(connection, org=org, sources=sources, settings=settings)


def update_and_check(
    session: Session,
    *,
    org: Organization,
    connection: Connection,
    data: ConnectionUpdate,
    settings: Settings,
    actor: Actor,
    operator: bool = False,
) -> None:
    """Change a connection (``connections.update``); if its settings changed, save them, close
    its open stores, and check its access again at once, so a connection they mend serves URLs
    again without waiting for the schedule, and one they break says so. A check that cannot
    run leaves the change saved and the check to the schedule, soon."""
    changed = connections.update(
        session, org=org, connection=connection, data=data, settings=settings,
        operator=operator, actor=actor,
    )  # fmt: skip
    if not set(changed) - {"name"}:
        return
    # Saved before the check's requests, so no write lock is held while the store answers;
    # stores closed after, so no other request opens one with the old settings meanwhile.
    session.commit()
    stores.forget(connection.id)
    try:
        check(session, connection=connection, settings=settings)
    except Exception:
        log.exception("checking connection %s after its change failed", connection.id)
        session.rollback()
        connection.health_checked_at = None  # due at the schedule's next tick


def check_by_id(session: Session, *, connection_id: str, settings: Settings) -> str | None:
    connection = session.get(Connection, connection_id)
    return None if connection is None else check(session, connection=connection, settings=settings)


def queue_due(session: Session, *, interval: timedelta) -> list[str]:
    """Queue a health check of each connection in use not checked for ``interval``.

    Each is claimed by stamping ``health_checked_at`` in a conditional UPDATE, so several
    servers ticking at once queue it once; the check stamps it again when it is done.
    """
    cutoff = utcnow() - interval
    due = or_(Connection.health_checked_at.is_(None), Connection.health_checked_at < cutoff)
    candidates: Sequence[str] = session.scalars(select(Connection.id).where(in_use(), due)).all()
    queued = []
    for connection_id in candidates:
        claimed = session.execute(
            update(Connection)
            .where(Connection.id == connection_id, due)
            .values(health_checked_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount:  # type: ignore[attr-defined]
            jobs.enqueue(session, HEALTH_TASK, connection_id=connection_id)
            queued.append(connection_id)
    return queued
