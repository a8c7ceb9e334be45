"""Attacks on the GCS provider: reading through the account all orgs share, redirects, and bugs.

Org A grants a bucket to the service account insitu shows it; org B (another org on the same
server) then tries to import that bucket. With one account for all orgs only a declared
single-tenant deployment (or development, with a warning) lets that happen; with a per-org
account (impersonated) Google refuses org B. Objects live on fake-gcs-server behind
FakeGoogleApis, reached through the real SDK.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from insitu.config import Settings
from insitu.errors import AccessDenied, InvalidConfiguration, StorageError
from insitu.storage.base import ProviderContext
from insitu.storage.gcs import PROVIDER, GcsConfig
from insitu.storage.gcs.store import GcsObjectStore
from tests.fake_google import OBJECT_VIEWER, FakeGoogleApis
from tests.fixtures.gcs import FakeGcsServer, ServiceAccount, make_service_account, seed_gcs
from tests.storage.azure_helpers import redirect_trap
from tests.storage.conftest import PORTAL

ORG_A = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
ORG_B = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
TEMPLATE = "insitu-{org_id_short}@platform-project.iam.gserviceaccount.com"
PRODUCTION = {
    "environment": "production",
    "secret_key": "kq3W9vZr8TmN2pXs7LbY4hJc6FdG1eRa0uVo5iKw",
}


def context(org_id: str, **settings: Any) -> ProviderContext:
    values: dict[str, Any] = {"portal_origins": [PORTAL], **settings}
    return ProviderContext(
        settings=Settings(**values),
        org_id=org_id,
        connection_id=f"conn-{org_id[:4]}",
        external_id=f"ext-{org_id[:4]}",
    )


@pytest.fixture(autouse=True)
def _fresh_gcs_provider() -> Iterator[None]:
    yield
    PROVIDER.clear_cache()


@pytest.fixture
def platform(tmp_path: Path, google_apis: FakeGoogleApis) -> ServiceAccount:
    account = make_service_account(tmp_path, token_uri=f"{google_apis.url}/token")
    google_apis.add_key_file_account(account.email, account.public_key)
    return account


@pytest.fixture
def org_a_bucket(
    monkeypatch: pytest.MonkeyPatch, fake_gcs_server: FakeGcsServer, gcs_bucket: str
) -> str:
    """Org A's bucket, holding a patient's scan."""
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    seed_gcs(fake_gcs_server, gcs_bucket, {"patients/p1.dcm": b"DICM-private"})
    return gcs_bucket


def through(google_apis: FakeGoogleApis, platform: ServiceAccount) -> dict[str, Any]:
    return {
        "gcs_credentials_file": platform.key_file,
        "gcs_endpoint": google_apis.url,
        "gcs_iam_endpoint": google_apis.url,
    }


def open_as(org_id: str, bucket: str, **settings: Any) -> GcsObjectStore:
    location = PROVIDER.parse(f"gs://{bucket}/")
    return PROVIDER.open(GcsConfig(), location=location, context=context(org_id, **settings))


@pytest.mark.parametrize(
    ("shared", "names"),
    [
        ({"gcs_service_account_email": "insitu@platform-project.iam.gserviceaccount.com"}, "EMAIL"),
        ({"key_file": True}, "INSITU_GCS_CREDENTIALS_FILE"),
        ({}, "Application Default Credentials"),
    ],
    ids=["one-email", "key-file", "adc"],
)
def test_in_production_org_b_cannot_reach_storage_through_the_shared_account(
    platform: ServiceAccount, shared: dict[str, Any], names: str
) -> None:
    settings = {**PRODUCTION, **shared}
    if settings.pop("key_file", False):
        settings["gcs_credentials_file"] = platform.key_file
    org_b = context(ORG_B, **settings)
    with pytest.raises(InvalidConfiguration) as caught:
        PROVIDER.validate_config(GcsConfig(), org_b)
    assert "shared by all organizations" in caught.value.detail and names in caught.value.detail
    assert "INSITU_GCS_SERVICE_ACCOUNT_TEMPLATE" in (caught.value.fix or "")
    assert "INSITU_SINGLE_TENANT=true" in (caught.value.fix or "")
    with pytest.raises(InvalidConfiguration):
        open_as(ORG_B, "org-a-bucket", **settings)
    checks = PROVIDER.verify(
        GcsConfig(), location=PROVIDER.parse("gs://org-a-bucket/"), context=org_b
    )
    assert not checks[0].ok and "shared by all organizations" in checks[0].detail
    assert all(check.detail.startswith("skipped") for check in checks[1:])


def test_with_the_shared_account_org_b_reads_org_as_bucket_which_is_why_production_refuses_it(
    google_apis: FakeGoogleApis, platform: ServiceAccount, org_a_bucket: str
) -> None:
    google_apis.grant(org_a_bucket, platform.email, OBJECT_VIEWER)  # org A's grant
    development = open_as(ORG_B, org_a_bucket, **through(google_apis, platform))
    assert development.get_range("patients/p1.dcm", 0, 4) == b"DICM"  # the risk, in development
    checks = PROVIDER.verify(
        GcsConfig(),
        location=PROVIDER.parse(f"gs://{org_a_bucket}/patients/"),
        context=context(ORG_B, **through(google_apis, platform)),
    )
    [warning] = [check for check in checks if check.name == "tenant isolation"]
    assert warning.ok and warning.detail.startswith("warning:")
    assert "INSITU_GCS_SERVICE_ACCOUNT_TEMPLATE" in (warning.fix or "")
    PROVIDER.clear_cache()
    with pytest.raises(InvalidConfiguration):
        open_as(ORG_B, org_a_bucket, **PRODUCTION, **through(google_apis, platform))
    # Declared single-tenant, one org only: allowed, without the warning.
    single = {**PRODUCTION, "single_tenant": True, **through(google_apis, platform)}
    assert open_as(ORG_A, org_a_bucket, **single).get_range("patients/p1.dcm", 0, 4) == b"DICM"
    checks = PROVIDER.verify(
        GcsConfig(),
        location=PROVIDER.parse(f"gs://{org_a_bucket}/patients/"),
        context=context(ORG_A, **single),
    )
    assert "tenant isolation" not in [check.name for check in checks]


def test_with_per_org_accounts_org_b_is_refused_by_google_in_production(
    google_apis: FakeGoogleApis, platform: ServiceAccount, org_a_bucket: str
) -> None:
    accounts = {org: TEMPLATE.format(org_id_short=org[:16]) for org in (ORG_A, ORG_B)}
    for email in accounts.values():
        google_apis.add_google_managed_account(email)
        google_apis.allow_impersonation(platform.email, email)
    google_apis.grant(org_a_bucket, accounts[ORG_A], OBJECT_VIEWER)
    settings = {**PRODUCTION, "gcs_service_account_template": TEMPLATE}
    settings.update(through(google_apis, platform))
    PROVIDER.validate_config(GcsConfig(), context(ORG_B, **settings))
    assert open_as(ORG_A, org_a_bucket, **settings).get_range("patients/p1.dcm", 0, 4) == b"DICM"
    with pytest.raises(AccessDenied) as caught:
        open_as(ORG_B, org_a_bucket, **settings).get_range("patients/p1.dcm", 0, 4)
    assert accounts[ORG_B] in caught.value.detail


# --- redirects ------------------------------------------------------------------------------


def test_a_storage_endpoint_that_redirects_is_not_followed_anywhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The trap works: a client on requests' defaults follows the 307 to the other port. It has
    # a trap of its own: the SDK also fetches the bucket's metadata from a background thread,
    # which may reach its trap's target after get_blob has returned.
    with redirect_trap() as proof:
        plain = storage.Client(
            project="p",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": proof.url},
        )
        with pytest.raises(Exception):  # noqa: B017 - only the hit count matters here
            plain.bucket("org-a-bucket").get_blob("x", retry=None)
        assert proof.hits > 0

    with redirect_trap() as trap:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", trap.url)
        store = open_as(ORG_A, "org-a-bucket")
        for attempt in (
            lambda: list(store.list_pages("patients/")),
            lambda: store.head("patients/p1.dcm"),
            lambda: store.get_range("patients/p1.dcm", 0, 4),
        ):
            with pytest.raises(StorageError) as caught:
                attempt()
            assert "HTTP 307" in caught.value.detail
            assert "does not follow redirects" in caught.value.detail
            assert "INSITU_GCS_ENDPOINT" in (caught.value.fix or "")
        # Token requests follow no redirect either (here insitu's own OAuth token endpoint).
        monkeypatch.delenv("STORAGE_EMULATOR_HOST")
        account = make_service_account(tmp_path, token_uri=f"{trap.url}/token")
        keyed = open_as(ORG_A, "org-a-bucket", gcs_credentials_file=account.key_file)
        with pytest.raises(AccessDenied):
            keyed.head("patients/p1.dcm")
        assert trap.redirects > 0 and trap.hits == 0


# --- bugs are not storage errors ------------------------------------------------------------


def test_a_bug_inside_the_store_propagates_as_itself_not_as_a_storage_error(
    monkeypatch: pytest.MonkeyPatch, gcs_emulator: str, fake_gcs_server: FakeGcsServer
) -> None:
    bucket = f"bug-{ORG_A[:8]}"
    fake_gcs_server.create_bucket(bucket)
    seed_gcs(fake_gcs_server, bucket, {"a.png": b"png"})
    store = open_as(ORG_A, bucket)
    assert store.head("a.png").size == 3  # the store works before the bug

    def bug(*_args: object, **_kwargs: object) -> None:
        raise TypeError("a bug, not the bucket")

    monkeypatch.setattr(storage.Bucket, "get_blob", bug)
    monkeypatch.setattr(storage.Blob, "download_as_bytes", bug)
    monkeypatch.setattr(storage.Blob, "generate_signed_url", bug)
    monkeypatch.setattr(storage.Client, "list_blobs", bug)
    with pytest.raises(TypeError, match="a bug"):
        store.head("a.png")
    with pytest.raises(TypeError, match="a bug"):
        store.get_range("a.png", 0, 1)
    with pytest.raises(TypeError, match="a bug"):
        list(store.list_pages(""))


def test_reading_objects_sends_no_bucket_request_a_reader_grant_would_refuse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """objectViewer cannot read a bucket's metadata: insitu must not ask (no denied calls)."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    paths: list[str] = []

    class Recorder(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            paths.append(self.path.split("?", 1)[0])
            self.send_response(404)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{server.server_address[1]}")
        store = open_as(ORG_A, "org-a-bucket")
        with pytest.raises(StorageError):
            store.head("patients/p1.dcm")
        time.sleep(0.5)  # a background metadata fetch would have come by now
    finally:
        server.shutdown()
    assert paths and all("/o/" in path for path in paths), paths
