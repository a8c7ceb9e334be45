"""Webhook endpoints of an org, and the events insitu sends them.

Domain code announces what happened with :func:`emit` (or one of the helpers below it) in its
own transaction: one delivery per endpoint that subscribed to the event is written with the
change it reports, and sent once that transaction commits (``delivery``). A rolled-back change
sends nothing; a committed one is never lost, as the sweep of ``insitu serve`` retries it.

Every event has the same body::

    {"id": "<event id>", "type": "assets.removed", "created_at": "<ISO 8601>",
     "org_id": "<org id>", "data": {...}}

For ``connection.health_changed``, whoever checks a connection's health calls
:func:`connection_health_changed` in the transaction that records the new state.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from insitu import jobs
from insitu.audit import service as audit
from insitu.audit.service import Actor
from insitu.config import Settings
from insitu.db import get_for_update, new_id, newest_first_page, utcnow
from insitu.errors import Conflict, InvalidInput, NotFound
from insitu.organizations import service as organizations
from insitu.organizations.models import Organization
from insitu.security import SecretBox
from insitu.webhooks.models import FAILED, PENDING, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from insitu.webhooks.schemas import (
    WebhookAttemptRead,
    WebhookCreate,
    WebhookDeliveryRead,
    WebhookEventType,
    WebhookRead,
)
from insitu.webhooks.urls import check_url

DELIVER_TASK = "webhooks.deliver"
PING = "ping"
EVENT_TYPES = {
    "import.finished": "An import finished, succeeded or failed: its status and counts.",
    "reconcile.finished": "A reconcile finished: what it found removed, changed, moved, "
    "restored and added.",
    "assets.removed": "Assets left circulation (canceled, moved or deleted in the bucket, "
    "changed and invalid, or their connection was deleted): how many, why, and their ids.",
    "assets.restored": "Assets came back into circulation: how many, and their ids.",
    "connection.health_changed": "A connection's access started or stopped working.",
}
# An event names at most this many assets; ``asset_ids_truncated`` says when there were more
# (the project's asset list, filtered by status and reason, has them all).
MAX_IDS = 100
MAX_ENDPOINTS_PER_ORG = 20
SECRET_PREFIX = "whsec_"


def event_types() -> list[WebhookEventType]:
    return [WebhookEventType(type=name, description=text) for name, text in EVENT_TYPES.items()]


# -- endpoints -----------------------------------------------------------------


def create(
    session: Session, *, org: Organization, data: WebhookCreate, actor: Actor, settings: Settings
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned once; stored encrypted)."""
    wanted = list(dict.fromkeys(data.event_types))
    unknown = [name for name in wanted if name not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(
            f"unknown event type(s): {', '.join(repr(name[:64]) for name in unknown)}",
            fix=f"subscribe to some of: {', '.join(EVENT_TYPES)}",
        )
    allowed = organizations.allowed_endpoints(org, settings=settings)
    url = check_url(data.url, allowed=allowed, settings=settings)
    get_for_update(session, Organization, org.id)  # two creates at once count one another
    if len(list_for_org(session, org=org)) >= MAX_ENDPOINTS_PER_ORG:
        raise Conflict(
            f"the organization already has {MAX_ENDPOINTS_PER_ORG} webhook endpoints",
            fix="delete one you no longer use (DELETE /v1/webhooks/{id}), or subscribe an "
            "existing endpoint to more event types",
        )
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(
        org_id=org.id,
        url=url,
        event_types=wanted,
        description=data.description,
        secret_encrypted=SecretBox(settings.secret_keys).encrypt(secret),
        created_by=actor.id,
    )
    session.add(endpoint)
    session.flush()
    _audit(session, actor, "webhook.created", endpoint)
    return endpoint, secret


def list_for_org(session: Session, *, org: Organization) -> Sequence[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.org_id == org.id, WebhookEndpoint.disabled_at.is_(None)
    )
    return session.scalars(query.order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)).all()


def get(session: Session, *, org: Organization, webhook_id: str) -> WebhookEndpoint:
    """The org's live endpoint ``webhook_id``; NotFound for another org's or a deleted one."""
    endpoint = session.get(WebhookEndpoint, webhook_id)
    if endpoint is None or endpoint.org_id != org.id or endpoint.disabled_at is not None:
        raise NotFound(
            f"webhook {webhook_id} does not exist", fix="list your webhooks: GET /v1/webhooks"
        )
    return endpoint


def delete(session: Session, *, endpoint: WebhookEndpoint, actor: Actor) -> None:
    """Stop sending to ``endpoint``; deliveries not sent yet are given up."""
    endpoint.disabled_at = utcnow()
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == PENDING)
        .values(status=FAILED, next_attempt_at=None, last_error="the endpoint was deleted")
        .execution_options(synchronize_session=False)
    )
    _audit(session, actor, "webhook.deleted", endpoint)


def _audit(session: Session, actor: Actor, action: str, endpoint: WebhookEndpoint) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        org_id=endpoint.org_id,
        target_type="webhook",
        target_id=endpoint.id,
        details={"url": endpoint.url, "event_types": endpoint.event_types},
    )


def read(endpoint: WebhookEndpoint) -> WebhookRead:
    return WebhookRead(
        id=endpoint.id,
        url=endpoint.url,
        event_types=endpoint.event_types,
        description=endpoint.description,
        created_at=endpoint.created_at,
    )


def list_deliveries(
    session: Session, *, endpoint: WebhookEndpoint, after: str | None, limit: int
) -> tuple[list[WebhookDeliveryRead], str | None]:
    """The endpoint's deliveries, newest first, each with its attempts (oldest first)."""
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    rows, next_cursor = newest_first_page(session, query, WebhookDelivery, after=after, limit=limit)
    attempts: dict[str, list[WebhookAttemptRead]] = {row.id: [] for row in rows}
    if rows:
        found = session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(attempts)))
            .order_by(WebhookAttempt.created_at, WebhookAttempt.id)
        )
        for attempt in found:
            attempts[attempt.delivery_id].append(
                WebhookAttemptRead(
                    at=attempt.created_at,
                    status_code=attempt.status_code,
                    error=attempt.error,
                    duration_ms=attempt.duration_ms,
                )
            )
    items = [
        WebhookDeliveryRead(
            id=row.id,
            event_id=row.event_id,
            event_type=row.event_type,
            status=row.status,
            created_at=row.created_at,
            next_attempt_at=row.next_attempt_at,
            delivered_at=row.delivered_at,
            last_error=row.last_error,
            payload=json.loads(row.body),
            attempts=attempts[row.id],
        )
        for row in rows
    ]
    return items, next_cursor


def ping(session: Session, *, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a ``ping`` event to this endpoint alone, to check that it receives and verifies."""
    return _deliver(session, [endpoint], org_id=endpoint.org_id, event_type=PING,
                    data={"webhook_id": endpoint.id})[0]  # fmt: skip


# -- events --------------------------------------------------------------------


def emit(
    session: Session, *, org_id: str, event_type: str, data: dict[str, Any]
) -> list[WebhookDelivery]:
    """Announce ``event_type`` to every endpoint of the org subscribed to it.

    The deliveries are written in ``session``'s transaction and sent once it commits.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    endpoints = session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.org_id == org_id, WebhookEndpoint.disabled_at.is_(None)
        )
    ).all()
    subscribed = [endpoint for endpoint in endpoints if event_type in endpoint.event_types]
    return _deliver(session, subscribed, org_id=org_id, event_type=event_type, data=data)


def _deliver(
    session: Session,
    endpoints: Sequence[WebhookEndpoint],
    *,
    org_id: str,
    event_type: str,
    data: dict[str, Any],
) -> list[WebhookDelivery]:
    if not endpoints:
        return []
    now = utcnow()
    event_id = new_id()
    body = json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "created_at": now.isoformat(),
            "org_id": org_id,
            "data": data,
        },
        separators=(",", ":"),
        default=_json_value,
    )
    deliveries = [
        WebhookDelivery(
            created_at=now,
            org_id=org_id,
            endpoint_id=endpoint.id,
            event_id=event_id,
            event_type=event_type,
            body=body,
            status=PENDING,
            next_attempt_at=now,
        )
        for endpoint in endpoints
    ]
    session.add_all(deliveries)
    session.flush()
    for delivery in deliveries:
        jobs.enqueue(session, DELIVER_TASK, delivery_id=delivery.id, attempt=0)
    return deliveries


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _ids(ids: Sequence[str], count: int) -> dict[str, Any]:
    kept = list(ids[:MAX_IDS])
    return {"asset_ids": kept, "asset_ids_truncated": count > len(kept)}


def import_finished(session: Session, job: Any) -> None:
    """``import.finished`` for an import (``ImportJob``) that just succeeded or failed."""
    emit(
        session,
        org_id=job.org_id,
        event_type="import.finished",
        data={
            "import_id": job.id,
            "project_id": job.project_id,
            "connection_id": job.connection_id,
            "source": job.source,
            "status": job.status,
            "counts": {
                "listed": job.listed,
                "imported": job.imported,
                "already_present": job.already_present,
                "failed": job.failed,
            },
            "error": (job.error or {}).get("error"),
        },
    )


def reconcile_finished(session: Session, job: Any, *, counts: dict[str, int]) -> None:
    """``reconcile.finished`` for a reconcile (``ReconcileJob``) that just ended."""
    emit(
        session,
        org_id=job.org_id,
        event_type="reconcile.finished",
        data={
            "reconcile_id": job.id,
            "project_id": job.project_id,
            "status": job.status,
            "counts": counts,
            "import_ids": job.import_ids or [],
            "error": (job.error or {}).get("error"),
        },
    )


def assets_removed(
    session: Session,
    *,
    org_id: str,
    reasons: dict[str, int],
    asset_ids: Sequence[str],
    by: str,
    project_id: str | None = None,
    **cause: str | None,
) -> None:
    """``assets.removed``, once per action however many assets it took out (none: no event).

    ``reasons`` counts them by removal reason; ``asset_ids`` names at least the first ones;
    ``cause`` says what removed them (``import_id=``, ``connection_id=``, ``reconcile_id=``).
    """
    count = sum(reasons.values())
    if not count:
        return
    emit(
        session,
        org_id=org_id,
        event_type="assets.removed",
        data={
            "project_id": project_id,
            "count": count,
            "reasons": {reason: n for reason, n in reasons.items() if n},
            **_ids(asset_ids, count),
            "by": by,
            **{name: value for name, value in cause.items() if value is not None},
        },
    )


def assets_restored(
    session: Session,
    *,
    org_id: str,
    count: int,
    asset_ids: Sequence[str],
    by: str,
    project_id: str | None = None,
    **cause: str | None,
) -> None:
    """``assets.restored``, once per action (none back: no event)."""
    if not count:
        return
    emit(
        session,
        org_id=org_id,
        event_type="assets.restored",
        data={
            "project_id": project_id,
            "count": count,
            **_ids(asset_ids, count),
            "by": by,
            **{name: value for name, value in cause.items() if value is not None},
        },
    )


def connection_health_changed(
    session: Session,
    *,
    org_id: str,
    connection_id: str,
    previous: str | None,
    current: str,
    detail: str | None = None,
    fix: str | None = None,
) -> None:
    """``connection.health_changed``: a connection went from ``previous`` to ``current``
    (e.g. ``ok`` -> ``failing``), with what failed and how to fix it."""
    emit(
        session,
        org_id=org_id,
        event_type="connection.health_changed",
        data={
            "connection_id": connection_id,
            "previous": previous,
            "current": current,
            "detail": detail,
            "fix": fix,
        },
    )
