"""A daemon thread that runs one piece of housekeeping every few seconds, whatever fails."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

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

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        first = True
        wait = self.first_delay
        while not self._stop.wait(wait):
            try:
                self.work(first)
            except Exception:  # housekeeping must outlive a database hiccup
                log.exception("%s failed; trying again in %ss", self.name, self.every)
            first = False
            wait = self.every
