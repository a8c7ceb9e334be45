"""The audit log: every security-relevant action, recorded in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from insitu.audit.models import AuditEvent


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
    """Add one event to ``session``; it commits (or rolls back) with the action it records."""
    event = AuditEvent(
        org_id=org_id,
        action=action,
        actor=actor.id,
        outcome=outcome,
        target_type=target_type,
        target_id=target_id,
        client_address=actor.client_address,
        user_agent=actor.user_agent[:300] if actor.user_agent else None,
        details=details,
    )
    session.add(event)
    return event
