"""Periodic: the housekeeping thread's start and stop."""

from __future__ import annotations

import logging
import threading

import pytest

from insitu.errors import QueueUnreachable
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


def test_a_known_error_is_logged_in_one_line_each_time(caplog: pytest.LogCaptureFixture) -> None:
    """A broker that is down fails every sweep: its message says it all, a traceback
    each time only buries it."""
    failed = threading.Event()

    def work(_first: bool) -> None:
        failed.set()
        raise QueueUnreachable("the job queue did not take its work", fix="start Redis")

    periodic = Periodic("sweep-of-a-dead-broker", 0.01, work)
    with caplog.at_level(logging.WARNING, logger="insitu.jobs.periodic"):
        periodic.start()
        assert failed.wait(5)
        periodic.stop()
    [first, *_] = [r for r in caplog.records if r.name == "insitu.jobs.periodic"]
    assert first.getMessage() == (
        "sweep-of-a-dead-broker failed: the job queue did not take its work; trying again in 0.01s"
    )
    assert first.exc_info is None
