"""The audit log: every security-relevant action, recorded in the caller's transaction.

Read back newest first, with each signed URL issued (kept in ``signed_url_issues`` by the
group-commit writer of ``assets/audit.py``) shown as action ``url.issued``. A page is a
UNION ALL of two queries that each take at most ``limit + 1`` rows below the cursor from their
own table, by ``(org_id, created_at)``: the merge never sees more than ``2 * (limit + 1)``
rows, however long the log.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from sqlalchemy import (
    JSON,
    Engine,
    Select,
    String,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from insitu.assets.models import SignedUrlIssue
from insitu.audit.models import AuditEvent
from insitu.audit.schemas import AuditEventRead, AuditTarget
from insitu.db import NewestCursor, UTCDateTime, older_than, session_scope, utcnow

URL_ISSUED = "url.issued"

_Query: TypeAlias = Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class Actor:
    """Who acted: an API key id, ``operator``, ``system`` or ``anonymous``, and from where."""

    id: str
    client_address: str | None = None
    user_agent: str | None = None


SYSTEM = Actor("system")
OPERATOR = Actor("operator")


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    org_id: str | None,
    target_type: str | None = None,
    target_id: str | None = None,
    outcome: str = "ok",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one event to ``session``; it commits (or rolls back) with the action it records.

    Stamped now, not when the session flushes: events recorded in one transaction (an org and
    its first key) keep the order they happened in.
    """
    event = AuditEvent(
        created_at=utcnow(),
        org_id=org_id,
        action=action,
        actor=actor.id,
        outcome=outcome,
        target_type=target_type,
        target_id=target_id,
        client_address=actor.client_address[:64] if actor.client_address else None,
        user_agent=actor.user_agent[:300] if actor.user_agent else None,
        details=details,
    )
    session.add(event)
    return event


def page(
    session: Session,
    *,
    org_id: str,
    actions: Sequence[str] = (),
    after: str | None = None,
    limit: int = 100,
) -> tuple[list[AuditEventRead], str | None]:
    """One page of the org's log, newest first, and the cursor of the next (older) page."""
    before = NewestCursor.decode(after) if after else None
    query = _query(org_id, actions, before, limit + 1)
    if query is None:
        return [], None
    rows = session.execute(query).all()
    items = [_read(row) for row in rows[:limit]]
    has_more = len(rows) > limit
    return items, (NewestCursor(items[-1].at, items[-1].id).encode() if has_more else None)


def export(
    engine: Engine, *, org_id: str, actions: Sequence[str] = (), batch: int = 1000
) -> Iterator[AuditEventRead]:
    """Every event of the org's log, newest first, read ``batch`` at a time.

    Each batch is its own short transaction, so memory stays flat and a long export never
    holds the database; events recorded after the export began are not included.
    """
    after: str | None = None
    while True:
        with session_scope(engine) as session:
            items, after = page(session, org_id=org_id, actions=actions, after=after, limit=batch)
        yield from items
        if after is None:
            return


def _query(
    org_id: str, actions: Sequence[str], before: NewestCursor | None, limit: int
) -> _Query | None:
    wanted = set(actions)
    parts: list[_Query] = []
    event_actions = wanted - {URL_ISSUED}
    if not wanted or event_actions:
        events = select(
            AuditEvent.id,
            AuditEvent.created_at,
            AuditEvent.action,
            AuditEvent.actor,
            AuditEvent.outcome,
            AuditEvent.target_type,
            AuditEvent.target_id,
            AuditEvent.client_address,
            AuditEvent.user_agent,
            AuditEvent.details,
            cast(null(), UTCDateTime()).label("expires_at"),
        ).where(AuditEvent.org_id == org_id)
        if event_actions:
            events = events.where(AuditEvent.action.in_(sorted(event_actions)))
        parts.append(older_than(events, AuditEvent.created_at, AuditEvent.id, before, limit))
    if not wanted or URL_ISSUED in wanted:
        issues = select(
            SignedUrlIssue.id,
            SignedUrlIssue.created_at,
            cast(literal(URL_ISSUED), String(64)).label("action"),
            func.coalesce(SignedUrlIssue.api_key_id, cast(literal("anonymous"), String(64))).label(
                "actor"
            ),
            cast(literal("ok"), String(16)).label("outcome"),
            cast(literal("asset"), String(32)).label("target_type"),
            SignedUrlIssue.asset_id.label("target_id"),
            SignedUrlIssue.client_address,
            SignedUrlIssue.user_agent,
            cast(null(), JSON()).label("details"),
            SignedUrlIssue.expires_at,
        ).where(SignedUrlIssue.org_id == org_id)
        parts.append(
            older_than(issues, SignedUrlIssue.created_at, SignedUrlIssue.id, before, limit)
        )
    if not parts:
        return None
    if len(parts) == 1:
        merged = parts[0].subquery()
    else:
        merged = union_all(*(select(part.subquery()) for part in parts)).subquery()
    return select(merged).order_by(merged.c.created_at.desc(), merged.c.id.desc()).limit(limit)


def _read(row: Any) -> AuditEventRead:
    details = row.details
    if row.action == URL_ISSUED and row.expires_at is not None:
        details = {"expires_at": row.expires_at.isoformat()}
    return AuditEventRead(
        id=row.id,
        at=row.created_at,
        action=row.action,
        actor=row.actor,
        outcome=row.outcome,
        target=AuditTarget(type=row.target_type, id=row.target_id) if row.target_type else None,
        client_address=row.client_address,
        user_agent=row.user_agent,
        details=details,
    )
