"""Work a task hands off to finish after it returns, so its thread can start the next task.

An import batch waits on the store while it is probed and on the database while it is
written; handing the write to this process's follow-up thread lets the worker probe the next
batch meanwhile. One thread per process, and at most one piece of work waiting for it: a task
that hands off while one is already waiting blocks until that one starts, so a fast prober
never piles up writes.

What is handed off must be safe to lose: a process killed before the work ran leaves it to
whatever recovers that work anyway (an import batch's lease lapses and the sweep runs it
again). Backends wait for it where they wait for tasks (``InlineBackend.join``, a worker's
shutdown).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Work = Callable[[], object]


class FollowUp:
    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: queue.Queue[Work] = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def hand_off(self, work: Work) -> None:
        """Run ``work`` on the follow-up thread; blocks while other work is still waiting."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        self._queue.put(work)

    def drain(self) -> None:
        """Wait until everything handed off so far has run."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            work = self._queue.get()
            try:
                work()
            except Exception:
                # The work records its own outcome; this only keeps the thread alive.
                log.exception("follow-up work failed")
            finally:
                self._queue.task_done()


_follow_up = FollowUp("insitu-follow-up")
_listing = FollowUp("insitu-lister")


def hand_off(work: Work) -> None:
    _follow_up.hand_off(work)


def hand_off_listing(work: Work) -> None:
    """Run an import's lister on a thread of its own: listing pages waits on the store for
    a second or more, and the worker runs batches meanwhile instead of waiting with it."""
    _listing.hand_off(work)


def drain() -> None:
    _listing.drain()
    _follow_up.drain()


def _forget_in_child() -> None:
    global _follow_up, _listing
    # A forked child has none of its parent's threads.
    _follow_up, _listing = FollowUp("insitu-follow-up"), FollowUp("insitu-lister")


os.register_at_fork(after_in_child=_forget_in_child)
