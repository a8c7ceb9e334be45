"""Sending deliveries: claim one, sign it, POST it to the checked address, record the attempt.

A delivery is sent by whoever claims it first: the task queued when its event was committed,
or the sweep of ``insitu serve`` (``deliver_due``) that picks up retries that are due and
deliveries whose task was lost with a restart. Claiming sets ``locked_until`` in one
conditional UPDATE, so two senders never send the same delivery at once; a task that expected
another attempt number than the row holds was overtaken and does nothing.

A 2xx answer delivers. Anything else (another status, a redirect, which is never followed, a
timeout, a refused address) is recorded as a failed attempt and tried again after a growing,
jittered delay (INSITU_WEBHOOK_RETRY_SECONDS) until INSITU_WEBHOOK_RETRY_WINDOW_SECONDS after
the event; then the delivery is ``failed``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Engine, or_, select, update
from sqlalchemy.orm import Session

from insitu import __version__
from insitu.config import Settings
from insitu.db import get_one_for_update, session_scope, utcnow
from insitu.errors import InvalidConfiguration, InvalidInput
from insitu.organizations import service as organizations
from insitu.organizations.models import Organization
from insitu.security import SecretBox
from insitu.storage.verify import checked_request
from insitu.webhooks.models import (
    DELIVERED,
    FAILED,
    PENDING,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Insitu-Signature"
# Far longer than one attempt may take (INSITU_WEBHOOK_TIMEOUT_SECONDS is at most a minute):
# a sender that died mid-attempt leaves its delivery to another after this.
LEASE = timedelta(minutes=5)
_JITTER = 0.1  # each delay is stretched or shrunk by up to 10 %, so retries do not march


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Insitu-Signature header: ``t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a status code, or why there was none."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def claim(session: Session, delivery_id: str, *, attempt: int | None = None) -> bool:
    """Hold ``delivery_id`` for one attempt if it is pending and nobody holds it.

    ``attempt`` (how many attempts the sender expects were made) keeps a task queued long ago
    from sending again before the retry delay the last attempt set.
    """
    now = utcnow()
    conditions = [
        WebhookDelivery.id == delivery_id,
        WebhookDelivery.status == PENDING,
        or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
    ]
    if attempt is not None:
        conditions.append(WebhookDelivery.attempts == attempt)
    result = session.execute(
        update(WebhookDelivery)
        .where(*conditions)
        .values(locked_until=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def deliver(
    delivery_id: str,
    *,
    settings: Settings,
    engine: Engine | None = None,
    attempt: int | None = None,
) -> str | None:
    """Make one attempt at ``delivery_id`` if this sender wins it; its status afterwards.

    None when another sender holds it, or it was delivered, failed or retried already.
    """
    with session_scope(engine) as session:
        if not claim(session, delivery_id, attempt=attempt):
            return None
        delivery = session.get_one(WebhookDelivery, delivery_id)
        endpoint = session.get_one(WebhookEndpoint, delivery.endpoint_id)
        if endpoint.disabled_at is not None:
            _give_up(delivery, "the endpoint was deleted before this delivery was sent")
            return FAILED
        org = session.get_one(Organization, delivery.org_id)
        allowed = organizations.allowed_endpoints(org, settings=settings)
        try:
            secret = SecretBox(settings.secret_keys).decrypt(endpoint.secret_encrypted)
        except InvalidInput as exc:  # its key left INSITU_SECRET_KEYS: no retry can sign it
            _give_up(delivery, f"{exc.detail}; {exc.fix}")
            return FAILED
        url, body = endpoint.url, delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"insitu-webhooks/{__version__}",
            "Insitu-Event": delivery.event_type,
            "Insitu-Delivery": delivery.id,
            "Insitu-Attempt": str(delivery.attempts + 1),
        }
    outcome = send(url, body, secret=secret, headers=headers, allowed=allowed, settings=settings)
    with session_scope(engine) as session:
        return record(session, delivery_id, outcome, settings=settings)


def send(
    url: str,
    body: bytes,
    *,
    secret: str,
    headers: dict[str, str],
    allowed: tuple[str, ...],
    settings: Settings,
) -> Outcome:
    """POST ``body`` to ``url``'s checked address, signed now; never follows a redirect."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    signed = {**headers, SIGNATURE_HEADER: signature(secret, int(time.time()), body)}
    try:
        with httpx.Client(timeout=settings.webhook_timeout_seconds) as client:
            response = checked_request(
                client, "POST", url, allowed, headers=signed, content=body, stream=True
            )
            response.close()  # the answer's body is not needed, however large it is
    except InvalidConfiguration as exc:
        return Outcome(None, f"not sent: {exc.detail}", took())
    except httpx.TimeoutException:
        timeout = settings.webhook_timeout_seconds
        return Outcome(None, f"no answer within {timeout:g} seconds", took())
    except httpx.HTTPError as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:500], took())
    if 200 <= response.status_code < 300:
        return Outcome(response.status_code, None, took())
    error = f"answered HTTP {response.status_code}, not 2xx"
    if response.is_redirect:
        where = response.headers.get("location", "")[:200]
        error = (
            f"answered HTTP {response.status_code}, a redirect to {where!r} insitu does not follow"
        )
    return Outcome(response.status_code, error, took())


def record(session: Session, delivery_id: str, outcome: Outcome, *, settings: Settings) -> str:
    """Write the attempt and what comes next: delivered, a retry at a later time, or failed."""
    now = utcnow()
    delivery = get_one_for_update(session, WebhookDelivery, delivery_id)
    session.add(
        WebhookAttempt(
            created_at=now,
            delivery_id=delivery_id,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
    )
    delivery.attempts += 1
    delivery.locked_until = None
    delivery.last_error = outcome.error
    if outcome.delivered:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DELIVERED, now, None
    else:
        retry_at = next_attempt(delivery.created_at, delivery.attempts, now, settings=settings)
        if retry_at is None:
            delivery.status, delivery.next_attempt_at = FAILED, None
        else:
            delivery.next_attempt_at = retry_at
    return delivery.status


def next_attempt(
    created_at: datetime, attempts: int, now: datetime, *, settings: Settings
) -> datetime | None:
    """When to try again after ``attempts`` failed ones; None once the retry window is over.

    The last attempt falls at the end of the window rather than past it.
    """
    deadline = created_at + timedelta(seconds=settings.webhook_retry_window_seconds)
    if now >= deadline:
        return None
    delays = settings.webhook_retry_seconds
    delay = delays[min(attempts, len(delays)) - 1] * random.uniform(1 - _JITTER, 1 + _JITTER)
    return min(now + timedelta(seconds=delay), deadline)


def _give_up(delivery: WebhookDelivery, why: str) -> None:
    delivery.status, delivery.next_attempt_at, delivery.locked_until = FAILED, None, None
    delivery.last_error = why


def due(session: Session, *, limit: int) -> list[tuple[str, int]]:
    """Pending deliveries whose time has come and that nobody holds: (id, attempts made)."""
    now = utcnow()
    rows = session.execute(
        select(WebhookDelivery.id, WebhookDelivery.attempts)
        .where(
            WebhookDelivery.status == PENDING,
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    ).all()
    return [(row.id, row.attempts) for row in rows]


def deliver_due(
    engine: Engine, *, settings: Settings, pool: ThreadPoolExecutor, limit: int = 200
) -> int:
    """Attempt every delivery that is due (up to ``limit``) on ``pool``; how many were sent."""
    with session_scope(engine) as session:
        pending = due(session, limit=limit)
    results = pool.map(
        lambda item: deliver(item[0], settings=settings, engine=engine, attempt=item[1]),
        pending,
    )
    return sum(result is not None for result in results)
