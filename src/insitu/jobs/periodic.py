"""Daemon threads in each server that run housekeeping every few seconds, whatever fails.

``Periodic`` runs one function on a fixed tick (the import sweep, webhook retries).
``scheduled`` starts work that is due: reconciles of every project, health checks of every
connection in use. Due-ness lives in the database, not in the thread, so several server
processes may tick at once: each kind of work claims what it starts (a project never has
two reconciles running; a connection's health check is stamped when it is queued).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sized
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from insitu.db import session_scope
from insitu.errors import InsituError

log = logging.getLogger(__name__)


class Periodic:
    """Runs ``work(first)`` every ``every`` seconds until stopped; ``first`` is True on the
    first run, made ``first_delay`` seconds after start."""

    def __init__(
        self, name: str, every: float, work: Callable[[bool], object], *, first_delay: float = 0
    ) -> None:
        self.name = name
        self.every = every
        self.work = work
        self.first_delay = first_delay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._lock = threading.Lock()  # start and stop may come from different threads

    def start(self) -> None:
        """Start the thread, unless already stopped."""
        with self._lock:
            if self._stop.is_set():
                return
            self._thread.start()
            self._started = True

    def stop(self) -> None:
        """Stop the thread and wait for its run in flight; a no-op if it never started
        (a Celery worker that never reached its broker shuts down without starting it)."""
        with self._lock:
            self._stop.set()
            started = self._started
        if started:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        first = True
        wait = self.first_delay
        while not self._stop.wait(wait):
            try:
                self.work(first)
            except InsituError as exc:  # said in full by its message: no traceback each time
                log.warning("%s failed: %s; trying again in %ss", self.name, exc.detail, self.every)
            except Exception:  # housekeeping must outlive a database hiccup
                log.exception("%s failed; trying again in %ss", self.name, self.every)
            first = False
            wait = self.every


def scheduled(
    engine: Engine,
    name: str,
    interval_seconds: int,
    start_due: Callable[[Session, timedelta], Sized],
    *,
    tick_seconds: float = 60,
) -> Periodic:
    """Every tick (at most ``interval_seconds``), ``start_due`` what has not run that long."""
    interval = timedelta(seconds=interval_seconds)

    def run(_first: bool) -> None:
        with session_scope(engine) as session:
            started = start_due(session, interval)
        if started:
            log.info("started %d scheduled %s", len(started), name)

    tick = min(tick_seconds, interval_seconds)
    return Periodic(f"schedule: {name}", tick, run, first_delay=tick)
