"""Work a task hands off to finish after it returns, so its thread can start the next task.

An import batch waits on the store for its files' heads and on the database while it is
written. A worker's task thread sends for a batch's heads and hands the rest off: the
follow-up thread probes the batch once its heads are in, and hands the write to the writer
thread, so the store, the probing and the database work on three batches at once. Listers
run on lister threads in Celery's processes (``list_aside``), so their batches go on while
they list.
Each of these lanes has at most one piece of work waiting: a hand-off while one is already
waiting blocks until that one starts, so a fast stage never piles up work.

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
    def __init__(self, name: str = "insitu-follow-up", *, threads: int = 1) -> None:
        self.name = name
        self.threads = threads
        self._queue: queue.Queue[Work] = queue.Queue(maxsize=1)
        self._running: list[threading.Thread] = []
        self._lock = threading.Lock()

    def hand_off(self, work: Work) -> None:
        """Run ``work`` on a thread of this lane; blocks while other work is still waiting."""
        with self._lock:
            while len(self._running) < self.threads:
                thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                thread.start()
                self._running.append(thread)
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
_writes = FollowUp("insitu-writer")
# Several: listers of different imports (of different orgs) must not wait on each other's
# stores.
LISTERS = 4
_listing = FollowUp("insitu-lister", threads=LISTERS)


def hand_off(work: Work) -> None:
    _follow_up.hand_off(work)


def hand_off_write(work: Work) -> None:
    """Run a database write on a thread of its own, so that the follow-up thread goes on
    with the next batch while the database works."""
    _writes.hand_off(work)


# Whether this process lists aside: set in Celery's pool processes, which run one task at a
# time. The inline backend has several task threads already, and its ``join`` waits for the
# tasks and what they hand off, not for listers handed off again.
lists_aside = False


def list_aside(work: Work) -> None:
    """Run an import's lister on one of the lister threads where this process lists aside:
    listing pages waits on the store for a second or more, and the process runs batches
    meanwhile instead of waiting with it. Elsewhere it runs here and now."""
    if lists_aside:
        _listing.hand_off(work)
    else:
        work()


def drain() -> None:
    _listing.drain()
    _follow_up.drain()  # before the writes: what it runs hands writes off
    _writes.drain()


def _forget_in_child() -> None:
    global _follow_up, _writes, _listing
    # A forked child has none of its parent's threads.
    _follow_up = FollowUp("insitu-follow-up")
    _writes = FollowUp("insitu-writer")
    _listing = FollowUp("insitu-lister", threads=LISTERS)


os.register_at_fork(after_in_child=_forget_in_child)
