"""An import split into batches: idempotent batches, leases that lapse, the sweep."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from insitu.assets import lifecycle
from insitu.assets.models import Asset
from insitu.config import Settings, get_settings
from insitu.connections import stores
from insitu.db import session_scope, utcnow
from insitu.errors import StoreThrottled
from insitu.imports.batches import run_batch
from insitu.imports.lister import run_lister
from insitu.imports.models import ImportBatch, ImportJob
from insitu.imports.sweep import sweep
from insitu.jobs.inline import InlineBackend
from tests.api.test_import_behaviour import (  # noqa: F401  (fixtures)
    WrappedStore,
    both_databases,
    folder,
    queued_import,
    real_store,
    setup,
)
from tests.fixtures.backends import broker_down, celery_queue, using


class StalledReads(WrappedStore):
    """Reads wait until the test lets them go on: a worker stuck mid-batch."""

    def __init__(self, inner: Any, go_on: threading.Event) -> None:
        super().__init__(inner)
        self.go_on = go_on
        self.reading = threading.Event()

    def get_range(self, key: str, start: int, end: int) -> bytes:
        self.reading.set()
        assert self.go_on.wait(30)
        return self.inner.get_range(key, start, end)


def _batches(job_id: str) -> list[ImportBatch]:
    with session_scope() as session:
        query = select(ImportBatch).where(ImportBatch.job_id == job_id).order_by(ImportBatch.id)
        return list(session.scalars(query))


def _assets(project_id: str) -> int:
    with session_scope() as session:
        query = select(func.count()).select_from(Asset).where(Asset.project_id == project_id)
        return session.scalar(query) or 0


def _stalled_batch(
    setup: dict[str, str],  # noqa: F811
    settings: Settings,
) -> tuple[str, str, threading.Thread, threading.Event, dict[str, bool]]:
    """An import listed into one batch that a first worker claimed and is stuck reading."""
    job_id = queued_import(setup, settings)
    assert run_lister(job_id, settings=settings, requeue=False).state == "done"
    [batch] = _batches(job_id)
    store, location = real_store(setup, settings)
    go_on = threading.Event()
    stalled = StalledReads(store, go_on)
    stores.forget(setup["connection"])
    stores.get_or_open(setup["connection"], location, lambda: stalled)
    result: dict[str, bool] = {}
    first = threading.Thread(
        target=lambda: result.setdefault("first", run_batch(batch.id, settings=settings))
    )
    first.start()
    assert stalled.reading.wait(30)
    stores.forget(setup["connection"])  # later workers read the real store
    return job_id, batch.id, first, go_on, result


def test_a_batch_run_twice_writes_nothing_twice(
    api: TestClient,
    setup: dict[str, str],  # noqa: F811
    settings: Settings,
) -> None:
    job_id = queued_import(setup, settings)
    run_lister(job_id, settings=settings, requeue=False)
    [batch] = _batches(job_id)
    assert run_batch(batch.id, settings=settings)
    once = api.get(f"/v1/imports/{job_id}").json()
    assert once["status"] == "succeeded" and once["counts"]["imported"] == 25

    assert not run_batch(batch.id, settings=settings)  # a redelivered message
    with session_scope() as session:  # even a batch put back as queued by mistake
        session.execute(update(ImportBatch).values(status="queued"))
    run_batch(batch.id, settings=settings)
    again = api.get(f"/v1/imports/{job_id}").json()
    assert again["counts"] == once["counts"] | {
        "already_present": again["counts"]["already_present"]
    }
    assert again["counts"]["imported"] == 25 and _assets(setup["project"]) == 25
    assert once["batches"] == {"queued": 0, "running": 0, "done": 1, "given_up": 0}


def test_a_batch_taken_over_after_its_lease_lapsed_writes_nothing_when_it_wakes(
    api: TestClient,
    setup: dict[str, str],  # noqa: F811
    settings: Settings,
) -> None:
    job_id, batch_id, first, go_on, result = _stalled_batch(setup, settings)
    assert not run_batch(batch_id, settings=settings)  # its lease still holds: not taken
    with session_scope() as session:  # ...until it lapses, as when its worker died
        session.execute(update(ImportBatch).values(lease_until=utcnow()))
    assert run_batch(batch_id, settings=settings)
    finished = api.get(f"/v1/imports/{job_id}").json()
    assert finished["status"] == "succeeded" and finished["counts"]["imported"] == 25

    go_on.set()  # the first worker wakes up with the files read
    first.join(30)
    assert result == {"first": False}
    assert api.get(f"/v1/imports/{job_id}").json()["counts"] == finished["counts"]
    assert _assets(setup["project"]) == 25


def test_a_batch_that_ends_after_its_import_was_canceled_writes_nothing(
    api: TestClient,
    setup: dict[str, str],  # noqa: F811
    settings: Settings,
) -> None:
    job_id, _, first, go_on, result = _stalled_batch(setup, settings)
    canceled = api.post(f"/v1/imports/{job_id}/cancel", json={"remove_assets": True}).json()
    assert canceled["status"] == "canceled" and canceled["batches"]["running"] == 0
    go_on.set()
    first.join(30)
    assert result == {"first": False}
    job = api.get(f"/v1/imports/{job_id}").json()
    assert job["status"] == "canceled" and job["counts"]["imported"] == 0
    assert _assets(setup["project"]) == 0


@both_databases
def test_a_cancel_that_comes_while_a_batch_is_being_written_waits_for_it_and_removes_its_assets(
    api: TestClient,
    setup: dict[str, str],  # noqa: F811
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id = queued_import(setup, settings)
    assert run_lister(job_id, settings=settings, requeue=False).state == "done"
    [batch] = _batches(job_id)
    writing, cancel_sent = threading.Event(), threading.Event()
    add_imported = lifecycle.add_imported

    def held_mid_commit(*args: Any, **kwargs: Any) -> int:
        # The batch's row is written and its transaction open: the cancel arrives now.
        writing.set()
        assert cancel_sent.wait(30)
        time.sleep(0.5)  # long enough for the cancel to reach the rows it must wait for
        return add_imported(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "add_imported", held_mid_commit)
    result: dict[str, bool] = {}
    worker = threading.Thread(
        target=lambda: result.setdefault("batch", run_batch(batch.id, settings=settings))
    )
    worker.start()
    assert writing.wait(30)
    cancel_sent.set()
    canceled = api.post(f"/v1/imports/{job_id}/cancel", json={"remove_assets": True})
    worker.join(30)

    assert canceled.status_code == 200, canceled.text
    assert result == {"batch": True}  # written in full before the cancel took the import
    body = canceled.json()
    assert body["status"] == "canceled" and body["counts"]["imported"] == 25
    assert body["assets_removed"] == 25
    assert body["batches"] == {"queued": 0, "running": 0, "done": 1, "given_up": 0}
    assert _assets(setup["project"]) == 25  # recorded, and out of circulation
    live = api.get(f"/v1/projects/{setup['project']}/assets").json()["items"]
    assert live == []


def test_the_sweep_takes_up_an_import_whose_worker_died(
    api: TestClient,
    setup: dict[str, str],  # noqa: F811
    worker: InlineBackend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server killed mid-import: its lister's and a batch's leases lapse, and a queued
    batch's message died with it. Started again, its first sweep finishes the import."""
    monkeypatch.setenv("INSITU_IMPORT_BATCH_SIZE", "10")
    monkeypatch.setenv("INSITU_IMPORT_MAX_PENDING_BATCHES", "2")
    get_settings.cache_clear()
    settings = get_settings()
    job_id = queued_import(setup, settings)
    assert run_lister(job_id, settings=settings, requeue=False).state == "wait"
    running, queued = _batches(job_id)
    with session_scope() as session:
        session.execute(
            update(ImportBatch)
            .where(ImportBatch.id == running.id)
            .values(status="running", token="dead", lease_until=utcnow())
        )
        session.execute(update(ImportJob).values(lister_lease_until=utcnow()))
    state = api.get(f"/v1/imports/{job_id}").json()
    assert state["status"] == "running"
    assert state["batches"] == {"queued": 1, "running": 1, "done": 0, "given_up": 0}

    time.sleep(0.01)
    assert sweep(settings=settings, restarted=True) == 3  # the lister and both batches
    worker.join()
    finished = api.get(f"/v1/imports/{job_id}").json()
    assert finished["status"] == "succeeded", finished
    assert finished["counts"] == {"listed": 25, "imported": 25, "already_present": 0, "failed": 0}
    assert finished["batches"] == {"queued": 0, "running": 0, "done": 3, "given_up": 0}
    assert _assets(setup["project"]) == 25
    assert sweep(settings=settings) == 0  # nothing left to take up


def test_a_lister_waiting_for_room_comes_back_when_half_the_queue_is_done_at_the_recent_rate(
    setup: dict[str, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INSITU_IMPORT_BATCH_SIZE", "5")
    monkeypatch.setenv("INSITU_IMPORT_MAX_PENDING_BATCHES", "2")
    get_settings.cache_clear()
    settings = get_settings()
    job_id = queued_import(setup, settings)
    first = run_lister(job_id, settings=settings, requeue=False)
    assert (first.state, first.wait) == ("wait", 2.0)  # nothing done yet: no rate to go by
    for batch in _batches(job_id):
        assert run_batch(batch.id, settings=settings)
    with session_scope() as session:
        started = session.get_one(ImportJob, job_id).started_at
    assert started is not None
    least = (utcnow() - started).total_seconds()
    again = run_lister(job_id, settings=settings, token=first.token, requeue=False)
    most = (utcnow() - started).total_seconds()
    # 10 files were done in the `least`..`most` seconds since the start (counted as at least
    # 1 s), and 10 more wait: half of them take half that time at that rate. A fast machine
    # comes back in about 0.5 s, well before the 2 s a lister waits with no rate to go by.
    # The rate is rounded to 0.1 file/s, hence the 5% either side.
    assert again.state == "wait", again
    assert max(least, 1.0) / 2 * 0.95 <= again.wait <= min(2.0, max(most, 1.0) / 2 * 1.05), (
        again,
        least,
        most,
    )


def test_while_no_worker_runs_the_sweep_adds_one_listing_message_per_lease_not_every_batch(
    api: TestClient,
    setup: dict[str, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INSITU_IMPORT_BATCH_SIZE", "5")
    monkeypatch.setenv("INSITU_IMPORT_MAX_PENDING_BATCHES", "3")
    with celery_queue(monkeypatch) as queue:
        settings = get_settings()
        broker = redis.Redis.from_url(settings.celery_broker_url)
        job_id = queued_import(setup, settings)
        assert run_lister(job_id, settings=settings, requeue=False).state == "wait"
        running, *queued = _batches(job_id)
        long_ago = utcnow() - timedelta(minutes=5)
        with session_scope() as session:  # every worker died: one batch held, two queued
            session.execute(
                update(ImportBatch)
                .where(ImportBatch.id == running.id)
                .values(status="running", token="dead", lease_until=long_ago)
            )
            session.execute(
                update(ImportBatch)
                .where(ImportBatch.status == "queued")
                .values(enqueued_at=long_ago)
            )
            session.execute(update(ImportJob).values(lister_lease_until=long_ago))

        assert sweep(settings=settings) == 4  # the lister and all three batches
        assert broker.llen(queue) == 4
        shown = api.get(f"/v1/imports/{job_id}").json()["batches"]
        assert shown == {
            "queued": 3,
            "running": 0,
            "done": 0,
            "given_up": 0,
        }  # none on a dead worker

        for _ in range(3):  # later sweeps: their messages still wait for a worker
            assert sweep(settings=settings) == 0
        assert broker.llen(queue) == 4

        with session_scope() as session:  # two leases later, still no worker
            session.execute(
                update(ImportBatch).where(ImportBatch.job_id == job_id).values(enqueued_at=long_ago)
            )
            session.execute(update(ImportJob).values(lister_lease_until=long_ago))
        assert sweep(settings=settings) == 1  # the lister again; the batches' messages wait
        assert broker.llen(queue) == 5

        broker.delete(queue)  # the broker restarted and lost its queue
        with session_scope() as session:
            session.execute(
                update(ImportBatch).where(ImportBatch.job_id == job_id).values(enqueued_at=long_ago)
            )
        assert sweep(settings=settings) == 3  # nothing waits: the batches are handed out again
        assert broker.llen(queue) == 3


@contextmanager
def store_of(setup: dict[str, str], settings: Settings, wrap: Any) -> Iterator[None]:  # noqa: F811
    """The connection's store, as ``wrap`` changes it, for the imports run in the block."""
    store, location = real_store(setup, settings)
    stores.forget(setup["connection"])
    stores.get_or_open(setup["connection"], location, lambda: wrap(store))
    try:
        yield
    finally:
        stores.forget(setup["connection"])


class ThrottledListing(WrappedStore):
    """The store answers the first ``times`` listings as a throttled S3 would, after retries."""

    def __init__(self, inner: Any, times: int) -> None:
        super().__init__(inner)
        self.times = times

    def list_pages(self, prefix: str, **kwargs):  # type: ignore[no-untyped-def]
        if self.times > 0:
            self.times -= 1
            raise StoreThrottled(
                "listing: the store kept throttling after 10 attempts over 40.2 s (SlowDown)",
                fix="lower INSITU_STORE_MAX_IN_FLIGHT, or ask for a higher request rate",
            )
        return self.inner.list_pages(prefix, **kwargs)


def test_a_listing_the_store_throttles_shows_as_a_warning_while_it_waits_and_not_after(
    api: TestClient,
    setup: dict[str, str],  # noqa: F811
    settings: Settings,
) -> None:
    job_id = queued_import(setup, settings)
    with store_of(setup, settings, lambda store: ThrottledListing(store, times=2)):
        first = run_lister(job_id, settings=settings, requeue=False)
        assert first.state == "wait"
        waiting = api.get(f"/v1/imports/{job_id}").json()
        assert waiting["status"] == "running" and waiting["error"] is None
        assert waiting["warning"]["error"] == "storage_throttled"
        assert waiting["warning"]["detail"] == (
            "listing: the store kept throttling after 10 attempts over 40.2 s (SlowDown); "
            "the listing goes on trying (1 of 12 tries failed)"
        )
        assert "INSITU_STORE_MAX_IN_FLIGHT" in waiting["warning"]["fix"]
        second = run_lister(job_id, settings=settings, token=first.token, requeue=False)
        assert second.state == "wait"
        assert (
            "(2 of 12 tries failed)" in api.get(f"/v1/imports/{job_id}").json()["warning"]["detail"]
        )

        assert run_lister(job_id, settings=settings, token=second.token, requeue=False).state
        assert api.get(f"/v1/imports/{job_id}").json()["warning"] is None  # listed again
        for batch in _batches(job_id):
            run_batch(batch.id, settings=settings)
    finished = api.get(f"/v1/imports/{job_id}").json()
    assert finished["status"] == "succeeded", finished
    assert (finished["error"], finished["warning"]) == (None, None)
    assert finished["counts"]["imported"] == 25


def test_a_listing_the_sweep_hands_out_is_taken_by_whichever_message_comes_first(
    api: TestClient,
    setup: dict[str, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INSITU_IMPORT_BATCH_SIZE", "5")
    monkeypatch.setenv("INSITU_IMPORT_MAX_PENDING_BATCHES", "2")
    get_settings.cache_clear()
    settings = get_settings()
    job_id = queued_import(setup, settings)
    paused = run_lister(job_id, settings=settings, requeue=False)
    assert paused.state == "wait"
    with session_scope() as session:  # its worker died while the lister was away
        session.execute(update(ImportJob).values(lister_lease_until=utcnow()))
    time.sleep(0.01)
    with using(InlineBackend(threads=0)) as busy:  # its workers all busy: nothing is taken
        assert sweep(settings=settings) == 1  # the listing, handed out with a new message
    assert busy.waiting() == 1
    # The lister's own message, late behind a busy queue, still takes the listing up.
    late = run_lister(job_id, settings=settings, token=paused.token, requeue=False)
    assert late.state == "wait", late
    assert api.get(f"/v1/imports/{job_id}").json()["counts"]["listed"] == 10
    assert run_lister(job_id, settings=settings, requeue=False).state == "stopped"  # now held


def test_a_throttled_listing_canceled_while_it_waits_ends_canceled_without_an_error(
    api: TestClient,
    setup: dict[str, str],  # noqa: F811
    settings: Settings,
) -> None:
    job_id = queued_import(setup, settings)
    with store_of(setup, settings, lambda store: ThrottledListing(store, times=1)):
        assert run_lister(job_id, settings=settings, requeue=False).state == "wait"
        assert api.get(f"/v1/imports/{job_id}").json()["warning"] is not None
        canceled = api.post(f"/v1/imports/{job_id}/cancel", json={"remove_assets": False})
    body = canceled.json()
    assert (body["status"], body["error"], body["warning"]) == ("canceled", None, None)


def test_a_listing_whose_batches_the_queue_does_not_take_pauses_and_keeps_them(
    api: TestClient,
    setup: dict[str, str],  # noqa: F811
    settings: Settings,
) -> None:
    job_id = queued_import(setup, settings)
    with using(broker_down()):
        assert run_lister(job_id, settings=settings).state == "stopped"
    job = api.get(f"/v1/imports/{job_id}").json()
    # Not failed: the page and its batch are kept for the sweep to hand out once Redis is back.
    assert (job["status"], job["error"], job["counts"]["listed"]) == ("running", None, 25)
    assert job["batches"]["queued"] == 1
