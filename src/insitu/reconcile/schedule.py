"""Reconciles on a schedule: a daemon thread in each server starts the ones that are due.

Every ``tick`` seconds it starts a reconcile for each project whose last one is older than
INSITU_RECONCILE_INTERVAL_SECONDS, through whichever job backend is configured. Several server
processes may tick at once: a project never has two reconciles running (``runner._claim``).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import Engine

from insitu.db import session_scope
from insitu.reconcile import service as reconciles

log = logging.getLogger(__name__)


class ReconcileSchedule:
    def __init__(self, engine: Engine, *, interval_seconds: int, tick_seconds: float = 60) -> None:
        self.engine = engine
        self.interval = timedelta(seconds=interval_seconds)
        self.tick = min(tick_seconds, interval_seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reconcile-schedule", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                with session_scope(self.engine) as session:
                    started = reconciles.start_due(session, interval=self.interval)
                if started:
                    log.info("started %d scheduled reconciles", len(started))
            except Exception:  # the schedule must outlive a database hiccup
                log.exception("starting scheduled reconciles failed; trying again next tick")
