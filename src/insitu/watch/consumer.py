"""The consumer of one event queue: receive, apply and commit, then acknowledge.

A message leaves the queue only after what it says is committed, so a consumer killed at any
point loses nothing: the messages it had not acknowledged come back once the queue's
visibility timeout passes, and applying them again changes nothing (``apply``). It holds the
queue's lease while it runs, so a queue never has two consumers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from insitu.config import Settings
from insitu.connections import service as connections
from insitu.connections.models import Connection
from insitu.db import new_id, session_scope
from insitu.errors import InsituError
from insitu.organizations.models import Organization
from insitu.storage.base import EventBatch, EventSource, Location, ObjectStore
from insitu.watch import lease
from insitu.watch.apply import Applied, BatchApplier
from insitu.watch.service import watched_queues

log = logging.getLogger(__name__)

# Back off this long after a failed receive or batch, so a broken queue is not hammered.
_RETRY_SECONDS = 5.0
# How often a running consumer checks that its queue is still watched.
_STILL_WATCHED_SECONDS = 30.0


class Consumer:
    """Consumes connection ``connection_id``'s event queue while it holds the queue's lease.

    ``after_commit`` runs between a batch's commit and its acknowledgement (tests stop a
    consumer there to show that nothing is lost or doubled).
    """

    def __init__(
        self,
        connection_id: str,
        *,
        settings: Settings,
        holder: str | None = None,
        wait_seconds: int | None = None,
        after_commit: Callable[[EventBatch, Applied], None] | None = None,
    ) -> None:
        self.connection_id, self.settings = connection_id, settings
        self.holder = holder or new_id()
        self.wait_seconds = settings.events_wait_seconds if wait_seconds is None else wait_seconds
        self.after_commit = after_commit
        with session_scope() as session:
            connection = session.get_one(Connection, connection_id)
            self.org_id = connection.org_id
            org = session.get_one(Organization, connection.org_id)
            self.source: EventSource = connections.open_events(
                connection, org=org, settings=settings
            )
        self.queue = self.source.queue
        self._pool = ThreadPoolExecutor(settings.import_concurrency)
        self.applier = BatchApplier(
            connection_id=connection_id,
            settings=settings,
            open_store=self._store,
            pool=self._pool,
        )
        self._checked_at = time.monotonic()

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        seconds: float | None = None,
        release: bool = True,
    ) -> bool:
        """Consume until ``stop`` is set, ``seconds`` pass, the lease is lost or the queue is no
        longer watched. False if another consumer holds the queue (nothing was done)."""
        stop = stop or threading.Event()
        deadline = None if seconds is None else time.monotonic() + seconds
        if not self._take():
            return False
        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                if not self._renew():
                    log.warning("lost the lease on %s to another consumer; stopping", self.queue)
                    return True
                if not self._still_watched():
                    return True
                wait = self.wait_seconds
                if deadline is not None:
                    wait = max(0, min(wait, int(deadline - time.monotonic())))
                if self.step(wait_seconds=wait) is None:
                    stop.wait(_RETRY_SECONDS)
            return True
        finally:
            if release:
                with session_scope() as session:
                    lease.release(session, queue=self.queue, holder=self.holder)

    def step(self, *, wait_seconds: int) -> Applied | None:
        """One receive, applied, committed and acknowledged; None if it failed (it comes back)."""
        try:
            batch = self.source.receive(wait_seconds=wait_seconds)
            applied = self.applier.apply(batch.events)
        except InsituError as exc:
            log.warning("event queue %s: %s", self.queue, exc.detail)
            self._note(0, f"{exc.detail} (fix: {exc.fix})" if exc.fix else exc.detail)
            return None
        if self.after_commit is not None:
            self.after_commit(batch, applied)
        try:
            self.source.acknowledge(batch.receipts)
        except InsituError as exc:  # the messages come back and change nothing twice
            log.warning("event queue %s: %s", self.queue, exc.detail)
        if batch.receipts:
            self._note(len(batch.events), None)
        return applied

    def close(self) -> None:
        self.source.close()
        self._pool.shutdown(wait=True)

    # -- helpers ------------------------------------------------------------------

    def _store(self, location: Location) -> ObjectStore:
        with session_scope() as session:
            return connections.open_store_by_id(
                session,
                connection_id=self.connection_id,
                org_id=self.org_id,
                location=location,
                settings=self.settings,
            )

    def _take(self) -> bool:
        """Hold the queue, unless another consumer's lease on it is still running."""
        with session_scope() as session:
            return lease.take(
                session,
                queue=self.queue,
                connection_id=self.connection_id,
                holder=self.holder,
                seconds=self.settings.events_lease_seconds,
            )

    def _renew(self) -> bool:
        """Keep holding the queue; False if it was lost (this consumer then stops)."""
        with session_scope() as session:
            return lease.renew(
                session,
                queue=self.queue,
                holder=self.holder,
                seconds=self.settings.events_lease_seconds,
            )

    def watched(self) -> bool:
        """Whether a watched project still reads this queue through this connection."""
        with session_scope() as session:
            queues = watched_queues(session, settings=self.settings)
        return queues.get(self.queue) == self.connection_id

    def _still_watched(self) -> bool:
        if time.monotonic() - self._checked_at < _STILL_WATCHED_SECONDS:
            return True
        self._checked_at = time.monotonic()
        return self.watched()

    def _note(self, applied: int, error: str | None) -> None:
        try:
            with session_scope() as session:
                lease.note(
                    session, queue=self.queue, holder=self.holder, applied=applied, error=error
                )
        except Exception:  # the status line must never stop the consumer
            log.exception("recording the consumer's status failed")
