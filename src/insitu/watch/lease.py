"""One consumer per event queue: a lease row per queue, held until it expires unless renewed.

Any server or worker may try to take a queue's lease; the conditional UPDATE lets exactly one
win (PostgreSQL re-checks the condition once it holds the row; SQLite writes one at a time).
A consumer renews it before each receive; one that dies lets it lapse, and another takes over.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from insitu.db import insert_ignoring_duplicates, new_id, utcnow
from insitu.watch.models import EventLease


def take(session: Session, *, queue: str, connection_id: str, holder: str, seconds: float) -> bool:
    """Take (or keep) ``queue``'s lease for ``holder`` for ``seconds``; False if another has it."""
    now = utcnow()
    insert_ignoring_duplicates(
        session,
        EventLease,
        [
            {
                "id": new_id(),
                "created_at": now,
                "queue": queue,
                "connection_id": connection_id,
                "holder": None,
                "expires_at": now,
                "events_applied": 0,
            }
        ],
        ["queue"],
    )
    taken = session.execute(
        update(EventLease)
        .where(
            EventLease.queue == queue,
            or_(
                EventLease.holder == holder,
                EventLease.holder.is_(None),
                EventLease.expires_at < now,
            ),
        )
        .values(
            holder=holder, connection_id=connection_id, expires_at=now + timedelta(seconds=seconds)
        )
        .execution_options(synchronize_session=False)
    )
    return taken.rowcount == 1  # type: ignore[attr-defined]


def renew(session: Session, *, queue: str, holder: str, seconds: float) -> bool:
    """Extend ``holder``'s lease; False if it lapsed and another consumer took it."""
    now = utcnow()
    renewed = session.execute(
        update(EventLease)
        .where(EventLease.queue == queue, EventLease.holder == holder)
        .values(expires_at=now + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )
    return renewed.rowcount == 1  # type: ignore[attr-defined]


def release(session: Session, *, queue: str, holder: str) -> None:
    """Give the lease up at once, so the next consumer need not wait for it to lapse."""
    session.execute(
        update(EventLease)
        .where(EventLease.queue == queue, EventLease.holder == holder)
        .values(holder=None, expires_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def note(session: Session, *, queue: str, holder: str, applied: int, error: str | None) -> None:
    """Record what the holder's last batch did (or why it failed), for the watch's status."""
    values: dict[str, object] = {"last_error": error}
    if applied:
        values |= {"events_applied": EventLease.events_applied + applied, "last_event_at": utcnow()}
    session.execute(
        update(EventLease)
        .where(EventLease.queue == queue, EventLease.holder == holder)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def free(session: Session, *, queue: str) -> bool:
    """Whether nobody holds ``queue``'s lease now."""
    row = session.execute(
        select(EventLease.holder, EventLease.expires_at).where(EventLease.queue == queue)
    ).first()
    return row is None or row.holder is None or row.expires_at < utcnow()


def get(session: Session, *, queue: str) -> EventLease | None:
    return session.scalar(select(EventLease).where(EventLease.queue == queue))
