"""The embedded backend: a few worker threads in the API process, no broker needed.

Its queue lives and dies with the process: work is recorded in the database before it is
queued, so what a shutdown drops is taken up again by the sweep of the next start.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from insitu.jobs import follow_up
from insitu.jobs.registry import run_task

log = logging.getLogger(__name__)

_STOP: tuple[str, dict[str, Any], float] = ("", {}, 0.0)
# A task not yet due goes back in the queue; with nothing else to do, a thread waits this long.
_IDLE_WAIT = 0.05


class InlineBackend:
    def __init__(self, threads: int | None = None) -> None:
        if threads is None:
            from insitu.config import get_settings

            threads = get_settings().worker_threads
        self.threads = threads
        # (name, args, due): a task runs once time.monotonic() reaches its due time.
        self._queue: queue.Queue[tuple[str, dict[str, Any], float]] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def send(self, name: str, args: dict[str, Any]) -> None:
        self._ensure_started()
        self._queue.put((name, args, 0.0))

    def send_later(self, name: str, args: dict[str, Any], delay: float) -> None:
        """Queued at once, so :meth:`join` waits for it too, but run only once due."""
        self._ensure_started()
        self._queue.put((name, args, time.monotonic() + delay))

    def waiting(self) -> int:
        """Tasks due now that no thread has taken (one waiting out a delay is not late)."""
        now = time.monotonic()
        with self._queue.mutex:
            return sum(1 for name, _, due in self._queue.queue if name and due <= now)

    def join(self) -> None:
        """Wait until every queued task has run, with what they handed off (tests, the CLI);
        handed-off work may queue more tasks, so until both are idle."""
        while True:
            self._queue.join()
            follow_up.drain()
            if self._queue.unfinished_tasks == 0:
                return

    def shutdown(self) -> None:
        """Stop taking tasks; a thread still busy past the wait ends after its task, and
        nothing queued after this runs (its work is in the database for the next sweep)."""
        with self._lock:
            self._closed = True
            for _ in self._threads:
                self._queue.put(_STOP)
            for thread in self._threads:
                thread.join(timeout=30)
            self._threads.clear()
        follow_up.drain()

    def _ensure_started(self) -> None:
        with self._lock:
            while not self._closed and len(self._threads) < self.threads:
                thread = threading.Thread(target=self._work, name="insitu-worker", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while True:
            name, args, due = self._queue.get()
            try:
                if name == "" or self._closed:
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    # Not due: back to the end of the queue, so a waiting task never holds a
                    # thread that other work could use.
                    if self._queue.empty():
                        time.sleep(min(wait, _IDLE_WAIT))
                    self._queue.put((name, args, due))
                    continue
                run_task(name, args)
            except Exception:
                # A task records its own failure; this only keeps the worker alive.
                log.exception("task %s(%s) failed", name, args)
            finally:
                self._queue.task_done()
