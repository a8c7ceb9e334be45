"""Throttling stores: retried with backoff and fewer requests in flight, never a failed file.

fakes3 answers a share of ranged GETs with S3's own ``503 SlowDown`` (moto cannot throttle).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.request import urlopen

import pytest

from insitu.errors import StorageError, StoreThrottled, StoreTransient
from insitu.media import ProbeOptions, probe_object
from insitu.storage import throttle
from insitu.storage.base import ObjectInfo, ProviderContext
from insitu.storage.s3 import PROVIDER, S3Config
from insitu.storage.throttle import Backoff, Throttle
from tests.fixtures.fakes3 import FakeS3, fakes3_key
from tests.fixtures.moto import TEST_CREDENTIALS

OBJECTS = 300


@pytest.fixture
def throttling_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeS3]:
    """A bucket answering 30 % of GETs with 503 SlowDown, as insitu's own AWS endpoint."""
    server = FakeS3(OBJECTS, 0, "--error-rate", "0.3", "--error-ops", "GetObject",
                    "--error-seed", "7")  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    for name, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    throttle.clear()
    yield server
    server.stop()
    throttle.clear()


def open_store(context: ProviderContext):  # type: ignore[no-untyped-def]
    return PROVIDER.open(S3Config(), location=PROVIDER.parse("s3://bench/"), context=context)


def test_a_throttling_store_still_probes_every_object(
    throttling_s3: FakeS3, context: ProviderContext
) -> None:
    store = open_store(context)
    infos = [info for page in store.list_pages("images/") for info in page.objects]
    assert len(infos) == OBJECTS
    options = ProbeOptions()
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(lambda info: probe_object(store, info, options), infos))

    assert [r.failure for r in results if r.failure is not None] == []
    assert all(r.facts is not None and r.facts.width for r in results)
    stats = throttling_s3.stats()
    assert stats.get("GetObject:SlowDown", 0) > OBJECTS * 0.2  # it did throttle, a lot
    assert store.throttle.throttled == stats["GetObject:SlowDown"]
    # It slowed down: the cap on requests in flight came down from where it started.
    assert store.throttle.limit < context.settings.store_max_in_flight


def test_spent_retries_raise_a_transient_error_not_a_file_failure(
    throttling_s3: FakeS3, context: ProviderContext
) -> None:
    urlopen(f"{throttling_s3.endpoint}/__fakes3/faults?rate=1").close()  # every GET now
    store = open_store(context)
    store.throttle = Throttle(8, backoff=Backoff(attempts=3, base=0.001))
    key = fakes3_key(1)
    with pytest.raises(StoreThrottled) as raised:
        store.get_range(key, 0, 100)
    with pytest.raises(StoreThrottled):
        probe_object(store, ObjectInfo(key=key, size=500), ProbeOptions())
    error = raised.value
    assert isinstance(error, StoreTransient) and error.code == "storage_throttled"
    assert error.code != StorageError.code and error.status_code == 503
    assert "after 3 attempts" in error.detail and "SlowDown" in error.detail
    assert error.fix and "try it again later" in error.fix
    assert throttling_s3.stats()["GetObject:SlowDown"] == 6  # 3 tries each, no more


def test_the_cap_halves_on_throttling_and_comes_back_on_success() -> None:
    cap = Throttle(64, backoff=Backoff(attempts=2, base=0.0))
    calls = iter([StoreThrottled("slow down"), "ok"])

    def request() -> str:
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert cap.call(request, what="a GET") == "ok"
    assert cap.limit == pytest.approx(32 + 1 / 32)
    for _ in range(5000):
        cap.call(lambda: None, what="a GET")
    assert cap.limit == 64 and cap.in_flight == 0


def test_requests_sent_without_waiting_take_free_slots_and_give_them_back() -> None:
    cap = Throttle(64)
    taken = 0
    while cap.try_take():  # never more than the cap at once
        taken += 1
    assert taken == 64 and cap.in_flight == 64
    for _ in range(60):
        cap.give_back(ok=True, transient=False)
    for _ in range(4):
        cap.give_back(ok=False, transient=True)
    assert cap.in_flight == 0 and cap.throttled == 4
    assert cap.limit == 32  # a "slow down" halves the cap, as for a request that waits
    assert sum(cap.try_take() for _ in range(100)) == 32


def test_requests_that_wait_for_a_slot_go_before_those_sent_without_waiting() -> None:
    cap = Throttle(1)
    assert cap.try_take()
    started = threading.Event()
    waiting = threading.Thread(target=cap.call, args=(started.set,), kwargs={"what": "a GET"})
    waiting.start()
    deadline = time.monotonic() + 5
    while not cap._waiting and time.monotonic() < deadline:
        time.sleep(0.01)
    cap.give_back(ok=True, transient=False)
    assert not cap.try_take() or started.is_set()  # the freed slot is the waiter's
    waiting.join(5)
    assert started.is_set() and cap.in_flight == 0
    assert cap.try_take()
