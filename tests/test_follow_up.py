"""Work handed off to the follow-up thread runs in order, one waiting at most, and is waited for."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import pytest

from insitu.jobs import follow_up
from insitu.jobs.follow_up import FollowUp
from insitu.jobs.inline import InlineBackend
from insitu.jobs.registry import task


def test_handed_off_work_runs_in_order_and_drain_waits_for_it() -> None:
    thread = FollowUp()
    done: list[int] = []
    for number in range(5):
        thread.hand_off(lambda number=number: (time.sleep(0.01), done.append(number)))
    thread.drain()
    assert done == [0, 1, 2, 3, 4]


def test_a_hand_off_waits_while_other_work_is_still_waiting() -> None:
    thread = FollowUp()
    release = threading.Event()
    thread.hand_off(release.wait)  # running: holds the thread
    thread.hand_off(lambda: None)  # waiting: the one slot is taken
    third = threading.Thread(target=thread.hand_off, args=(lambda: None,))
    third.start()
    third.join(timeout=0.3)
    assert third.is_alive(), "a third hand-off went through while two were outstanding"
    release.set()
    third.join(timeout=5)
    assert not third.is_alive()
    thread.drain()


def test_failing_work_does_not_stop_the_thread() -> None:
    thread = FollowUp()
    after = threading.Event()

    def fail() -> None:
        raise RuntimeError("the database went away")

    thread.hand_off(fail)
    thread.hand_off(after.set)
    # Waited for with a timeout: a thread killed by the failure would leave drain() hanging.
    assert after.wait(timeout=5), "work handed off after a failure never ran"
    thread.drain()


@task("tests.hands_off")
def _hands_off(marker: str) -> None:
    def later() -> None:
        time.sleep(0.2)
        _written.append(marker)

    follow_up.hand_off(later)


_written: list[str] = []


def test_the_inline_backend_join_waits_for_what_tasks_handed_off() -> None:
    backend = InlineBackend(threads=1)
    try:
        backend.send("tests.hands_off", {"marker": "written"})
        backend.join()
        assert _written == ["written"]
    finally:
        backend.shutdown()


def test_drain_waits_for_writes_handed_on_by_follow_up_work_and_for_listers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(follow_up, "lists_aside", True)  # as in a Celery pool process
    done: list[str] = []

    def probe() -> None:
        time.sleep(0.1)
        follow_up.hand_off_write(lambda: (time.sleep(0.1), done.append("written")))

    follow_up.list_aside(lambda: (time.sleep(0.2), done.append("listed")))
    follow_up.hand_off(probe)
    follow_up.drain()
    assert sorted(done) == ["listed", "written"]


def test_each_lane_runs_on_its_own_named_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(follow_up, "lists_aside", True)
    names: dict[str, str] = {}

    def record(lane: str) -> None:
        names[lane] = threading.current_thread().name

    follow_up.hand_off(lambda: record("probe"))
    follow_up.hand_off_write(lambda: record("write"))
    follow_up.list_aside(lambda: record("list"))
    follow_up.drain()
    assert names == {"probe": "insitu-follow-up", "write": "insitu-writer", "list": "insitu-lister"}


def _lanes_in_child(answers: Any) -> None:
    follow_up.lists_aside = True
    ran: list[str] = []
    follow_up.list_aside(lambda: ran.append("listed"))
    follow_up.hand_off(lambda: follow_up.hand_off_write(lambda: ran.append("written")))
    follow_up.drain()
    answers.put(sorted(ran))


def test_a_forked_process_gets_lanes_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Celery pool process is forked from a parent whose lanes may be busy."""
    monkeypatch.setattr(follow_up, "lists_aside", True)
    release = threading.Event()
    for _ in range(follow_up.LISTERS + 1):  # every lister thread busy, one more waiting
        follow_up.list_aside(release.wait)
    follow_up.hand_off(release.wait)
    fork = multiprocessing.get_context("fork")
    answers = fork.Queue()
    child = fork.Process(target=_lanes_in_child, args=(answers,), daemon=True)
    child.start()
    try:
        assert answers.get(timeout=20) == ["listed", "written"]
    finally:
        child.kill()
        release.set()
        follow_up.drain()
