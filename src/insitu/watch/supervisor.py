"""Starting consumers for watched queues: a daemon thread in each ``insitu serve`` process.

Every INSITU_EVENTS_CHECK_SECONDS it lists the queues watched projects read. On the inline
backend it runs a consumer thread per queue in this process (a consumer whose queue another
process holds gives up at once, and is tried again next time); on Celery it queues a consume
task for each queue nobody holds, and the task keeps itself going (``tasks``). Either way a
queue has one consumer at a time (``lease``).
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine

from insitu import jobs
from insitu.config import Settings
from insitu.db import session_scope
from insitu.jobs.periodic import Periodic
from insitu.watch import lease, retention
from insitu.watch.service import watched_queues

log = logging.getLogger(__name__)

CONSUME_TASK = "watch.consume"
FORGET_EVERY = 3600.0  # seconds between two sweeps of expired sequencers


class EventSupervisor(Periodic):
    def __init__(self, engine: Engine, *, settings: Settings) -> None:
        self.engine, self.settings = engine, settings
        self._consumers: dict[str, threading.Thread] = {}
        self._forget_due = 0.0
        super().__init__(
            "event-supervisor", settings.events_check_seconds, lambda _first: self.check()
        )

    def stop(self) -> None:
        super().stop()
        for thread in self._consumers.values():
            thread.join(timeout=self.settings.events_wait_seconds + 10)

    def check(self) -> None:
        """Start what is missing, once; forget expired sequencers, once an hour."""
        with session_scope(self.engine) as session:
            queues = watched_queues(session, settings=self.settings)
            free = {queue for queue in queues if lease.free(session, queue=queue)}
        for queue, connection_id in queues.items():
            if self.settings.job_backend == "celery":
                if queue in free:
                    jobs.enqueue(None, CONSUME_TASK, connection_id=connection_id)
                continue
            running = self._consumers.get(queue)
            # Another process's consumer holds it: opening the queue here would only give up.
            if (running is None or not running.is_alive()) and queue in free:
                thread = threading.Thread(
                    target=self._consume,
                    args=(connection_id,),
                    name=f"events-{connection_id}",
                    daemon=True,
                )
                self._consumers[queue] = thread
                thread.start()
        self._forget_expired()

    def _forget_expired(self) -> None:
        if time.monotonic() < self._forget_due:
            return
        self._forget_due = time.monotonic() + FORGET_EVERY
        try:
            retention.forget_expired(self.engine)
        except Exception:  # the consumers matter more: they are started either way
            log.exception("forgetting expired event sequencers failed")

    def _consume(self, connection_id: str) -> None:
        from insitu.watch.consumer import Consumer

        try:
            consumer = Consumer(connection_id, settings=self.settings)
        except Exception:
            log.exception("opening the event queue of connection %s failed", connection_id)
            return
        try:
            consumer.run(stop=self._stop)
        except Exception:
            log.exception("the event consumer of connection %s failed", connection_id)
        finally:
            consumer.close()
