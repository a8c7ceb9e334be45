"""Reconciles on a schedule: a daemon thread in each server starts the ones that are due.

Every ``tick`` seconds it starts a reconcile for each project whose last one is older than
INSITU_RECONCILE_INTERVAL_SECONDS, through whichever job backend is configured. Several server
processes may tick at once: a project never has two reconciles running (``runner._claim``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Engine

from insitu.db import session_scope
from insitu.jobs.periodic import Periodic
from insitu.reconcile import service as reconciles

log = logging.getLogger(__name__)


class ReconcileSchedule(Periodic):
    def __init__(self, engine: Engine, *, interval_seconds: int, tick_seconds: float = 60) -> None:
        self.engine = engine
        self.interval = timedelta(seconds=interval_seconds)
        self.tick = min(tick_seconds, interval_seconds)
        super().__init__("reconcile-schedule", self.tick, self._start_due, first_delay=self.tick)

    def _start_due(self, _first: bool) -> None:
        with session_scope(self.engine) as session:
            started = reconciles.start_due(session, interval=self.interval)
        if started:
            log.info("started %d scheduled reconciles", len(started))
