"""Many files' first bytes read together (``S3ObjectStore.read_heads``), against fakes3.

The fast path an import's probes start from: it must return exactly the bytes a ranged GET
returns, leave out whatever it could not read cleanly for the ordinary read to handle, and
slow down with the bucket's throttle when the store says so. Its signatures are checked by
moto in auth mode (``test_s3_auth``).
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any
from urllib.request import urlopen

import pytest
from botocore.credentials import ReadOnlyCredentials

from insitu.storage import throttle
from insitu.storage.base import ProviderContext
from insitu.storage.s3 import PROVIDER, S3Config, S3ObjectStore, heads
from insitu.storage.throttle import Throttle
from tests.fixtures.fakes3 import FakeS3, fakes3_key
from tests.fixtures.moto import TEST_CREDENTIALS

OBJECTS = 400


@pytest.fixture(scope="module")
def fakes3() -> Iterator[FakeS3]:
    server = FakeS3(OBJECTS, 5, "--error-ops", "GetObject", "--error-seed", "3")
    yield server
    server.stop()


@pytest.fixture
def store(
    fakes3: FakeS3, context: ProviderContext, monkeypatch: pytest.MonkeyPatch
) -> Iterator[S3ObjectStore]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", fakes3.endpoint)
    for name, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    throttle.clear()
    urlopen(f"{fakes3.endpoint}/__fakes3/faults?rate=0").close()
    yield PROVIDER.open(S3Config(), location=PROVIDER.parse("s3://bench/"), context=context)
    urlopen(f"{fakes3.endpoint}/__fakes3/faults?rate=0").close()
    throttle.clear()


def _gets(fakes3: FakeS3) -> int:
    return sum(n for op, n in fakes3.stats().items() if op.startswith("GetObject"))


def test_heads_are_the_bytes_a_ranged_get_returns(store: S3ObjectStore, fakes3: FakeS3) -> None:
    wants = [(fakes3_key(i), 100 + i) for i in range(300)]
    before = _gets(fakes3)
    heads = store.read_heads(wants).result()
    assert _gets(fakes3) - before == 300  # one request a file
    assert heads == {key: store.get_range(key, 0, length) for key, length in wants}
    assert store.throttle.in_flight == 0


def test_a_file_shorter_than_asked_is_left_to_the_ordinary_read(
    store: S3ObjectStore, fakes3: FakeS3, caplog: pytest.LogCaptureFixture
) -> None:
    # The listing said 10 MB; the objects are a few KiB now (replaced since they were listed).
    wants = [(fakes3_key(7), 10_000_000), (fakes3_key(9), 10_000_000), (fakes3_key(8), 200)]
    with caplog.at_level(logging.WARNING, logger="insitu.storage.s3.heads"):
        heads = store.read_heads(wants).result()
    assert heads == {fakes3_key(8): store.get_range(fakes3_key(8), 0, 200)}
    # Said once per kind of failure, not once per file.
    (warning,) = [record.getMessage() for record in caplog.records]
    assert "HTTP 206" in warning and "read one by one instead" in warning


def test_keys_a_url_would_have_to_escape_are_not_sent(store: S3ObjectStore, fakes3: FakeS3) -> None:
    before = _gets(fakes3)
    odd = ["images/a b.png", "images/ü.png", "images/a+b.png", "images/./a.png", "images/a?.png"]
    assert store.read_heads([(key, 100) for key in odd]).result() == {}
    assert _gets(fakes3) == before


def test_a_throttling_store_gets_fewer_requests_and_loses_no_file(
    store: S3ObjectStore, fakes3: FakeS3
) -> None:
    urlopen(f"{fakes3.endpoint}/__fakes3/faults?rate=0.3").close()
    wants = [(fakes3_key(i), 64) for i in range(OBJECTS)]
    heads = store.read_heads(wants).result()
    slowed = fakes3.stats()["GetObject:SlowDown"]
    assert 0 < len(heads) < OBJECTS and slowed > OBJECTS * 0.2
    assert store.throttle.throttled == slowed  # each one counted by the bucket's throttle
    assert store.throttle.limit < store.throttle.cap  # which sends fewer at once from now on
    missing = [key for key, _ in wants if key not in heads]
    assert len(missing) == slowed
    # The files left out are read the ordinary way, which retries with backoff.
    assert all(len(store.get_range(key, 0, 64)) == 64 for key in missing)
    assert all(len(head) == 64 for head in heads.values())


def test_batches_sent_while_others_are_in_flight_each_get_their_own_heads(
    store, fakes3: FakeS3
) -> None:
    first = store.read_heads([(fakes3_key(i), 50) for i in range(0, 200)])
    second = store.read_heads([(fakes3_key(i), 60) for i in range(100, 300)])
    assert set(second.result()) == {fakes3_key(i) for i in range(100, 300)}
    assert set(first.result()) == {fakes3_key(i) for i in range(0, 200)}
    assert first.result()[fakes3_key(150)] == second.result()[fakes3_key(150)][:50]


def test_a_store_no_longer_read_keeps_no_thread(
    store: S3ObjectStore, fakes3: FakeS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(heads, "IDLE_EXIT", 1.0)
    reader = store.identity.heads
    assert len(store.read_heads([(fakes3_key(1), 10)]).result()) == 1
    assert reader.serving
    deadline = time.monotonic() + 10
    while reader.serving and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not reader.serving
    assert len(store.read_heads([(fakes3_key(2), 10)]).result()) == 1  # a new thread, on demand


def _heads_in_child(store: S3ObjectStore, key: str, answers: Any) -> None:
    answers.put(store.read_heads([(key, 32)]).result().get(key))


def test_a_forked_worker_process_reads_heads_with_handles_of_its_own(
    store: S3ObjectStore, fakes3: FakeS3
) -> None:
    """Celery's worker processes are forked: libcurl handles and threads must not cross."""
    key = fakes3_key(3)
    expected = store.read_heads([(key, 32)]).result()[key]  # the parent's thread is running
    fork = multiprocessing.get_context("fork")
    answers = fork.Queue()
    child = fork.Process(target=_heads_in_child, args=(store, key, answers), daemon=True)
    child.start()
    try:
        child.join(30)
        assert child.exitcode == 0
        assert answers.get(timeout=5) == expected
    finally:
        child.kill()


def test_a_batch_no_longer_waited_for_sends_nothing_more(
    store: S3ObjectStore, fakes3: FakeS3
) -> None:
    store.throttle = Throttle(2)  # two at a time: most of the batch is still waiting
    before = _gets(fakes3)
    heads = store.read_heads([(fakes3_key(i), 16) for i in range(200)])
    heads.cancel()
    time.sleep(0.5)
    assert _gets(fakes3) - before < 20
    assert store.throttle.in_flight == 0


def test_a_connections_own_endpoint_gets_no_request_from_libcurl(
    fakes3: FakeS3, context: ProviderContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A customer's S3-compatible endpoint gets boto3 only, which checks every connection's
    address and follows no redirect; the batch path is not even built for it."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    config = S3Config(
        endpoint_url=fakes3.endpoint, access_key_id="AKIDTEST", secret_access_key="secret"
    )
    store = PROVIDER.open(config, location=PROVIDER.parse("s3://bench/"), context=context)
    before = _gets(fakes3)
    assert store.read_heads([(fakes3_key(5), 16)]).result() == {}
    assert _gets(fakes3) == before
    assert len(store.get_range(fakes3_key(5), 0, 16)) == 16  # read the ordinary way


class _Recorder(BaseHTTPRequestHandler):
    """Answers every ranged GET with the bytes asked for, and notes its session token."""

    tokens: list[str | None] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).tokens.append(self.headers.get("x-amz-security-token"))
        first, last = self.headers["Range"].removeprefix("bytes=").split("-")
        body = b"x" * (int(last) - int(first) + 1)
        self.send_response(206)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


def test_a_handle_signing_with_new_credentials_sends_no_token_of_the_old_ones() -> None:
    """libcurl handles are kept from request to request: credentials without a session token
    (an IAM user's) must not go out with the token of the role that used the handle before."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    Thread(target=server.serve_forever, daemon=True).start()
    reader = heads.HeadReader(f"http://127.0.0.1:{server.server_port}", "us-east-1")
    role = ReadOnlyCredentials("ASIAROLE", "role-secret", "role-session-token")
    user = ReadOnlyCredentials("AKIAUSER", "user-secret", None)
    try:
        for credentials in (role, user, role):
            _Recorder.tokens.clear()
            read = reader.submit("bucket", [("a.png", 8), ("b.png", 8)], credentials, Throttle(4))
            assert read.result(timeout=30) == {"a.png": b"x" * 8, "b.png": b"x" * 8}
            assert _Recorder.tokens == [credentials.token] * 2
    finally:
        server.shutdown()
