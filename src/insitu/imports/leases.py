"""Leases: a worker's hold on an import's listing or on one batch, renewed while it works.

A lease is a token and an expiry on the row. Whoever holds the token may commit; when the
lease lapses (its worker died), the sweep hands the work to another worker, whose claim
writes a new token, so the first one's late commits find the row no longer theirs and
write nothing.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, update

from insitu.db import session_scope, utcnow
from insitu.imports.models import BATCH_QUEUED, BATCH_RUNNING, ImportBatch, ImportJob


def batch_due(now: datetime) -> ColumnElement[bool]:
    """A batch any worker may take now: queued and due, or held by a worker whose lease lapsed."""
    return or_(and_(ImportBatch.status == BATCH_QUEUED, batch_not_waiting(now)), batch_lapsed(now))


def batch_not_waiting(now: datetime) -> ColumnElement[bool]:
    """Not held back by a backoff (a batch the store throttled waits until ``not_before``)."""
    return or_(ImportBatch.not_before.is_(None), ImportBatch.not_before <= now)


def batch_lapsed(now: datetime) -> ColumnElement[bool]:
    """Running, but its worker stopped renewing the lease: it died or hangs."""
    return and_(ImportBatch.status == BATCH_RUNNING, ImportBatch.lease_until < now)


def expiry(seconds: float, *, now: datetime | None = None) -> datetime:
    return (now or utcnow()) + timedelta(seconds=seconds)


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait before try ``attempt + 1``: doubling from ``base`` up to ``cap``,
    with jitter so that batches throttled together do not all come back together."""
    delay = min(cap, base * 2 ** max(attempt - 1, 0))
    return delay * (0.5 + random.random() / 2)


class Lease:
    """This worker's hold on one row: ``ImportJob`` (its listing) or ``ImportBatch``."""

    def __init__(self, model: type[ImportJob] | type[ImportBatch], row_id: str, token: str,
                 seconds: float, *, job_id: str) -> None:  # fmt: skip
        self.model = model
        self.row_id = row_id
        self.token = token
        self.seconds = seconds
        self.job_id = job_id
        self.lost = False
        # Commits and renewals take turns, so a renewal never races a commit on its row.
        self.lock = threading.Lock()

    @property
    def _columns(self) -> tuple[Any, Any]:
        if self.model is ImportJob:
            return ImportJob.lister_token, ImportJob.lister_lease_until
        return ImportBatch.token, ImportBatch.lease_until

    def renew(self) -> bool:
        """Extend the lease (and the import's heartbeat); False once it is someone else's."""
        token, until = self._columns
        with self.lock, session_scope() as session:
            now = utcnow()
            renewed = session.execute(
                update(self.model)
                .where(self.model.id == self.row_id, token == self.token)
                .values({until: expiry(self.seconds, now=now)})
            )
            if renewed.rowcount != 1:  # type: ignore[attr-defined]
                self.lost = True
                return False
            session.execute(
                update(ImportJob).where(ImportJob.id == self.job_id).values(heartbeat_at=now)
            )
        return True

    @contextmanager
    def kept_alive(self) -> Iterator[None]:
        stop = threading.Event()
        thread = threading.Thread(target=self._renew_until, args=(stop,), daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _renew_until(self, stop: threading.Event) -> None:
        while not stop.wait(self.seconds / 3) and not self.lost:
            try:
                self.renew()
            except Exception:  # a database hiccup: the next renewal tries again
                continue
