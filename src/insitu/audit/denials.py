"""Denied requests in the audit log, recorded in a transaction of their own, within a budget.

The denied request's own transaction rolls back, so its event goes through the group-commit
writer instead. Anyone can send bad keys, so recording is bounded twice: per client address
and in all, each per minute (``INSITU_AUDIT_DENIALS_PER_MINUTE`` and ``..._TOTAL``). A denial
over budget costs no query and no write: it is counted, and the next one recorded from that
address says how many were not (``details.unrecorded``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine, select

from insitu.assets.audit import writer_for
from insitu.audit.models import AuditEvent
from insitu.errors import InsituError
from insitu.organizations.models import ApiKey
from insitu.security import hash_api_key

log = logging.getLogger(__name__)

REQUEST_DENIED = "request.denied"
# 401 (no, unknown, revoked or expired key) and these 403s; a bucket's own 403 is not a denial
# of the request by insitu.
DENIAL_CODES = frozenset({"operator_only", "forbidden"})
WINDOW_SECONDS = 60.0
MAX_TRACKED_ADDRESSES = 10_000


def is_denial(error: InsituError) -> bool:
    """Whether ``error`` refused the caller (as opposed to failing on their behalf)."""
    return error.status_code == 401 or error.code in DENIAL_CODES


@dataclass
class _Window:
    started: float
    recorded: int = 0
    unrecorded: int = 0


class DenialBudget:
    """How many denials may be recorded per client address and in all, per minute."""

    def __init__(self, per_address: int, total: int, window: float = WINDOW_SECONDS) -> None:
        self._per_address, self._total, self._window = per_address, total, window
        self._lock = threading.Lock()
        self._addresses: dict[str, _Window] = {}
        self._all = _Window(0.0)

    def admit(self, address: str | None, now: float | None = None) -> int | None:
        """None if this denial is only counted; else how many from ``address`` went unrecorded."""
        now = time.monotonic() if now is None else now
        key = address or "-"
        with self._lock:
            if now - self._all.started >= self._window:
                self._all = _Window(now)
            window = self._addresses.get(key)
            if window is None or now - window.started >= self._window:
                carried = window.unrecorded if window else 0
                if window is None and len(self._addresses) >= MAX_TRACKED_ADDRESSES:
                    self._forget_expired(now)
                window = _Window(now, unrecorded=carried)
                if len(self._addresses) < MAX_TRACKED_ADDRESSES:
                    self._addresses[key] = window
            if window.recorded >= self._per_address or self._all.recorded >= self._total:
                if window.unrecorded == 0:
                    log.warning("denied requests from %s are over the audit budget", key)
                window.unrecorded += 1
                return None
            window.recorded += 1
            self._all.recorded += 1
            unrecorded, window.unrecorded = window.unrecorded, 0
            return unrecorded

    def _forget_expired(self, now: float) -> None:
        self._addresses = {
            key: window
            for key, window in self._addresses.items()
            if now - window.started < self._window or window.unrecorded
        }


def record_denied(
    engine: Engine,
    *,
    budget: DenialBudget,
    error: InsituError,
    method: str,
    path: str,
    bearer: str | None,
    client_address: str | None,
    user_agent: str | None,
) -> None:
    """Record one denied request, if the budget allows, in its own committed transaction."""
    unrecorded = budget.admit(client_address)
    if unrecorded is None:
        return
    actor, org_id = "anonymous", None
    if bearer:
        # Revoked and expired keys are still found, so their org sees the attempt.
        query = select(ApiKey.id, ApiKey.org_id).where(ApiKey.key_hash == hash_api_key(bearer))
        with engine.connect() as connection:
            row = connection.execute(query).first()
        if row is not None:
            actor, org_id = row.id, row.org_id
    details: dict[str, object] = {"method": method, "path": path[:300], "error": error.code}
    if unrecorded:
        details["unrecorded"] = unrecorded
    writer_for(engine).insert(
        AuditEvent.__table__,  # type: ignore[arg-type]
        {
            "org_id": org_id,
            "action": REQUEST_DENIED,
            "actor": actor,
            "outcome": "denied",
            "target_type": None,
            "target_id": None,
            "client_address": client_address[:64] if client_address else None,
            "user_agent": user_agent[:300] if user_agent else None,
            "details": details,
        },
    )
