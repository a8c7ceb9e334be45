"""Azure and GCS stores under throttling: retried with backoff, never a per-file failure.

Azurite and fake-gcs-server cannot throttle, so a real HTTP(S) server on loopback
(tests/fixtures/flaky_proxy.py) stands between the official SDK and the emulator: it answers
the first N reads with the provider's own throttling response (Azure's ``503 ServerBusy``
and ``500 OperationTimedOut``, GCS's ``429 rateLimitExceeded`` and ``503 backendError``,
with their real error bodies), then forwards every request to the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from insitu.errors import StorageError, StoreThrottled, StoreTransient, StoreUnavailable
from insitu.media import ProbeOptions, probe_object
from insitu.storage import throttle
from insitu.storage.azure import AzureConfig, AzureProvider, AzureStore
from insitu.storage.base import ObjectInfo
from insitu.storage.gcs import PROVIDER as GCS
from insitu.storage.gcs import GcsConfig, GcsObjectStore
from insitu.storage.throttle import Backoff, Throttle
from tests.fixtures.azurite import TENANT, Azurite, seed_blobs
from tests.fixtures.flaky_proxy import Fault, FlakyProxy, flaky_proxy
from tests.fixtures.gcs import FakeGcsServer, make_service_account, seed_gcs
from tests.images import png
from tests.storage.azure_helpers import azure_context, azure_settings, trusting
from tests.storage.conftest import PORTAL

IMAGES = {f"scans/{index:02d}.png": png(10 + index, 7) for index in range(6)}
QUICK = Backoff(attempts=3, base=0.001)


@pytest.fixture(autouse=True)
def _fresh_throttles() -> Iterator[None]:
    throttle.clear()
    yield
    throttle.clear()


def is_read(method: str, path: str) -> bool:
    """Object reads (HEAD, ranged GET, metadata), not listings or uploads."""
    return method in ("GET", "HEAD") and ("/scans/" in path or "/o/scans%2F" in path)


def probe_all(store: AzureStore | GcsObjectStore) -> list[ObjectInfo]:
    """List, then probe every image as an import does; assert none of them failed."""
    infos = [info for page in store.list_pages("scans/") for info in page.objects]
    assert sorted(info.key for info in infos) == sorted(IMAGES)
    for info in infos:
        result = probe_object(store, store.head(info.key), ProbeOptions())
        assert result.failure is None, result.failure
        assert result.facts is not None and result.facts.width == 10 + int(info.key[6:8])
    return infos


# Azure


def azure_fault(status: int, code: str, message: str) -> Fault:
    """An error as Azure Storage sends it: x-ms-error-code and the error XML."""
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}\n'
        "RequestId:4b1e8c7a-f01e-0063-0b2a-3e0a5e000000\nTime:2026-01-12T10:00:00.0000000Z"
        "</Message></Error>"
    ).encode()
    return Fault(
        status,
        {
            "Content-Type": "application/xml",
            "x-ms-error-code": code,
            "x-ms-request-id": "4b1e8c7a-f01e-0063-0b2a-3e0a5e000000",
            "x-ms-version": "2025-01-05",
        },
        body,
    )


SERVER_BUSY = azure_fault(503, "ServerBusy", "Operations per second is over the account limit.")
TIMED_OUT = azure_fault(
    500, "OperationTimedOut", "Operation could not be completed within the specified time."
)


@pytest.fixture(scope="module")
def azure_container(azurite_oauth: Azurite) -> str:
    name = azurite_oauth.new_container()
    seed_blobs(azurite_oauth, name, IMAGES)
    return name


def azure_store(azurite: Azurite, proxy: FlakyProxy, container: str) -> AzureStore:
    provider = AzureProvider()
    account_url = f"{proxy.url}/devstoreaccount1"
    location = provider.parse(f"{account_url}/{container}/")
    config = AzureConfig(account_url=account_url, tenant_id=TENANT)
    return provider.open(config, location=location, context=azure_context(azure_settings()))


def azure_proxy(azurite: Azurite, fault: Fault, failures: int):  # type: ignore[no-untyped-def]
    assert azurite.tls is not None
    upstream = azurite.account_url.rsplit("/", 1)[0]
    return flaky_proxy(
        upstream, fault, failures, matches=is_read, cert=azurite.tls.cert, key=azurite.tls.key
    )


def test_azure_server_busy_is_retried_and_every_blob_is_probed(
    azurite_oauth: Azurite, azure_container: str
) -> None:
    with trusting(azurite_oauth), azure_proxy(azurite_oauth, SERVER_BUSY, 8) as proxy:
        store = azure_store(azurite_oauth, proxy, azure_container)
        probe_all(store)
    assert proxy.faulted == 8  # it did answer ServerBusy, and nothing failed for it
    # The SDK retries once itself; the rest reached insitu's throttle and were retried there.
    assert store.throttle.throttled == 4
    assert store.throttle.limit < azure_settings().store_max_in_flight


@pytest.mark.parametrize(
    ("fault", "kind", "code"),
    [
        (SERVER_BUSY, StoreThrottled, "ServerBusy"),
        (TIMED_OUT, StoreUnavailable, "OperationTimedOut"),
    ],
)
def test_azure_spent_retries_raise_a_transient_error_not_a_file_failure(
    azurite_oauth: Azurite,
    azure_container: str,
    fault: Fault,
    kind: type[StoreTransient],
    code: str,
) -> None:
    with trusting(azurite_oauth), azure_proxy(azurite_oauth, fault, 10_000) as proxy:
        store = azure_store(azurite_oauth, proxy, azure_container)
        store.throttle = Throttle(8, backoff=QUICK)
        with pytest.raises(kind) as raised:
            store.get_range("scans/01.png", 0, 100)
        assert proxy.faulted == 6  # 3 tries of insitu's, each tried twice by the SDK
        with pytest.raises(kind):
            probe_object(store, ObjectInfo(key="scans/01.png", size=500), ProbeOptions())
        with pytest.raises(kind):
            store.head("scans/01.png")
    error = raised.value
    assert error.code != StorageError.code and error.status_code == 503
    assert "after 3 attempts" in error.detail and code in error.detail
    assert error.fix and "try it again later" in error.fix


# GCS


def gcs_fault(status: int, reason: str, message: str) -> Fault:
    """An error as the GCS JSON API sends it."""
    error = {"code": status, "message": message, "errors": [
        {"message": message, "domain": "usageLimits" if status == 429 else "global",
         "reason": reason}
    ]}  # fmt: skip
    return Fault(
        status,
        {"Content-Type": "application/json; charset=UTF-8"},
        json.dumps({"error": error}).encode(),
    )


RATE_LIMITED = gcs_fault(
    429,
    "rateLimitExceeded",
    "The object exceeded the rate limit for object mutation operations (create, update, and "
    "delete). Please reduce your request rate.",
)
BACKEND_ERROR = gcs_fault(503, "backendError", "Backend Error")


@pytest.fixture
def gcs_bucket_with_images(fake_gcs_server: FakeGcsServer, gcs_bucket: str) -> str:
    seed_gcs(fake_gcs_server, gcs_bucket, IMAGES)
    return gcs_bucket


def gcs_store(
    proxy: FlakyProxy, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> GcsObjectStore:
    from insitu.config import Settings
    from insitu.storage.base import ProviderContext

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
    account = make_service_account(tmp_path)
    settings = Settings(portal_origins=[PORTAL], gcs_credentials_file=account.key_file)  # type: ignore[call-arg]
    context = ProviderContext(
        settings=settings, org_id="0123456789abcdef0123456789abcdef", connection_id="c",
        external_id="e",
    )  # fmt: skip
    store = GCS.open(GcsConfig(), location=GCS.parse(f"gs://{bucket}/"), context=context)
    assert isinstance(store, GcsObjectStore)
    return store


def test_gcs_rate_limits_are_retried_and_every_object_is_probed(
    fake_gcs_server: FakeGcsServer,
    gcs_bucket_with_images: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with flaky_proxy(fake_gcs_server.endpoint, RATE_LIMITED, 12, matches=is_read) as proxy:
        store = gcs_store(proxy, gcs_bucket_with_images, tmp_path, monkeypatch)
        probe_all(store)
    GCS.clear_cache()
    assert proxy.faulted == 12
    assert store.throttle.throttled > 0  # the SDK's short retry let some through to insitu
    assert store.throttle.limit < store.throttle.cap


@pytest.mark.parametrize(
    ("fault", "kind", "reason"),
    [(RATE_LIMITED, StoreThrottled, "rateLimitExceeded"),
     (BACKEND_ERROR, StoreUnavailable, "backendError")],
)  # fmt: skip
def test_gcs_spent_retries_raise_a_transient_error_not_a_file_failure(
    fake_gcs_server: FakeGcsServer,
    gcs_bucket_with_images: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault: Fault,
    kind: type[StoreTransient],
    reason: str,
) -> None:
    with flaky_proxy(fake_gcs_server.endpoint, fault, 10_000, matches=is_read) as proxy:
        store = gcs_store(proxy, gcs_bucket_with_images, tmp_path, monkeypatch)
        store.throttle = Throttle(8, backoff=QUICK)
        with pytest.raises(kind) as raised:
            store.get_range("scans/01.png", 0, 100)
        with pytest.raises(kind):
            probe_object(store, ObjectInfo(key="scans/01.png", size=500), ProbeOptions())
        with pytest.raises(kind):
            store.head("scans/01.png")
    GCS.clear_cache()
    error = raised.value
    assert error.code != StorageError.code and error.status_code == 503
    assert "after 3 attempts" in error.detail and reason in error.detail
    assert error.fix and "try it again later" in error.fix
