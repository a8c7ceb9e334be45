"""Periodic: the housekeeping thread's start and stop."""

from __future__ import annotations

import threading

from insitu.jobs.periodic import Periodic


def test_stopping_a_periodic_that_never_started_is_a_no_op() -> None:
    """A Celery worker that never reached its broker shuts down before worker_ready."""
    runs: list[bool] = []
    periodic = Periodic("never-started", 0.01, runs.append)
    periodic.stop()
    periodic.stop()
    periodic.start()  # too late: it was stopped, so it does not run
    periodic.stop()
    assert runs == []
    assert not any(thread.name == "never-started" for thread in threading.enumerate())


def test_a_started_periodic_runs_until_stopped() -> None:
    ran = threading.Event()
    runs: list[bool] = []

    def work(first: bool) -> None:
        runs.append(first)
        ran.set()

    periodic = Periodic("ticking", 0.01, work)
    periodic.start()
    assert ran.wait(5)
    periodic.stop()
    count = len(runs)
    assert runs[0] is True and not any(runs[1:])
    assert not any(thread.name == "ticking" for thread in threading.enumerate())
    ran.clear()
    assert not ran.wait(0.05) and len(runs) == count
