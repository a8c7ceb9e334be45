"""Periodic jobs: a daemon thread in each server starts the work that is due.

Each job is a function that, given a session and its interval, starts (enqueues) whatever
has not run for that long and returns what it started: reconciles of every project, health
checks of every connection in use. The due-ness lives in the database, not in this thread,
so several server processes may tick at once: each job claims its work (a project never has
two reconciles running; a connection's health check is stamped when it is queued).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from insitu.db import session_scope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval_seconds: int
    start_due: Callable[[Session, timedelta], Sized]


class Schedule:
    """Every ``tick`` seconds (at most the shortest interval), run each job's ``start_due``."""

    def __init__(
        self, engine: Engine, jobs: Sequence[PeriodicJob], *, tick_seconds: float = 60
    ) -> None:
        self.engine = engine
        self.jobs = [job for job in jobs if job.interval_seconds > 0]  # 0: off
        intervals = [job.interval_seconds for job in self.jobs]
        self.tick = min([tick_seconds, *intervals])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="schedule", daemon=True)

    def start(self) -> None:
        if self.jobs:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            for job in self.jobs:
                try:
                    with session_scope(self.engine) as session:
                        started = job.start_due(session, timedelta(seconds=job.interval_seconds))
                    if started:
                        log.info("started %d scheduled %s", len(started), job.name)
                except Exception:  # the schedule must outlive a database hiccup
                    log.exception("starting scheduled %s failed; trying again next tick", job.name)
