"""GCS provider behaviour beyond the contract: paths, settings, signing, errors, verify.

Permission and CORS checks run against FakeGoogleApis (tests/fake_google.py), which answers
testIamPermissions, bucket CORS and 403s with the JSON shapes GCS returns, reached through the
real SDK; objects come from fake-gcs-server behind it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from insitu.errors import (
    AccessDenied,
    ContainerNotFound,
    InvalidConfiguration,
    InvalidLocation,
    StorageUnreachable,
)
from insitu.storage.base import Check, ProviderContext
from insitu.storage.gcs import PROVIDER, GcsConfig, missing_permission
from insitu.storage.gcs.policies import service_account_email
from insitu.storage.registry import get_provider, parse_location
from tests.fake_google import LEGACY_BUCKET_READER, OBJECT_VIEWER, FakeGoogleApis
from tests.fixtures.gcs import FakeGcsServer, ServiceAccount, make_service_account, seed_gcs
from tests.goog4 import SignatureMismatch, URLExpired, verify_signed_url
from tests.storage.checks import by_name, json_after
from tests.storage.conftest import PORTAL
from tests.storage.test_gcs_contract import ORG_ID, gcs_context

ORG_ACCOUNT = f"insitu-{ORG_ID[:16]}@platform-project.iam.gserviceaccount.com"
TEMPLATE = "insitu-{org_id_short}@platform-project.iam.gserviceaccount.com"
GRANT = "gcloud storage buckets add-iam-policy-binding gs://{bucket} --member=serviceAccount:{email} --role=roles/storage.objectViewer"  # noqa: E501
CHECK_NAMES = [
    "IAM permissions",
    "list prefix",
    "head object",
    "ranged read",
    "signed URL",
    "bucket CORS",
]


@pytest.fixture(autouse=True)
def _fresh_gcs_provider() -> Iterator[None]:
    yield
    PROVIDER.clear_cache()


# --- paths ---------------------------------------------------------------------------------


def test_parses_an_absolute_gs_path_into_bucket_and_prefix() -> None:
    location = parse_location("gs://my-bucket/test-images/")
    assert (location.provider, location.bucket, location.key) == (
        "gcs",
        "my-bucket",
        "test-images/",
    )
    assert location.is_prefix and location.uri == "gs://my-bucket/test-images/"
    assert parse_location("gs://my-bucket/a b/ü+%?#.png").key == "a b/ü+%?#.png"


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("my-bucket/test-images/", "not a storage URI"),
        ("/test-images/", "not a storage URI"),
        ("test-images", "not a storage URI"),
        ("gs:///test-images/", "names no bucket"),
        ("gs://", "names no bucket"),
        ("gs://My_Bucket/x", "not a valid GCS bucket name"),
        ("gs://ab/x", "not a valid GCS bucket name"),
        ("gs://bucket/a\nb", "not a valid object name"),
    ],
)
def test_paths_that_are_not_absolute_gs_paths_are_refused_with_an_example(
    uri: str, says: str
) -> None:
    with pytest.raises(InvalidLocation) as caught:
        parse_location(uri)
    assert says in caught.value.detail
    assert "gs://my-bucket/" in f"{caught.value.detail} {caught.value.fix}"


def test_config_takes_only_a_valid_billing_project() -> None:
    assert GcsConfig(user_project="my-project-123").public() == {"user_project": "my-project-123"}
    with pytest.raises(ValidationError, match="not a Google Cloud project ID"):
        GcsConfig(user_project="Not A Project")
    with pytest.raises(ValidationError):
        GcsConfig.model_validate({"endpoint": "http://169.254.169.254"})


# --- which service account ------------------------------------------------------------------


def test_service_account_is_the_template_for_the_org_then_the_email_then_the_key_file() -> None:
    assert service_account_email(email=None, template=TEMPLATE, org_id=ORG_ID) == ORG_ACCOUNT
    fixed = "insitu@platform-project.iam.gserviceaccount.com"
    assert service_account_email(email=fixed, template=None, org_id=ORG_ID) == fixed
    assert service_account_email(email=None, template=None, org_id="x", key_file_email="k") == "k"


@pytest.mark.parametrize(
    "template",
    [
        "insitu-{org_id}@platform-project.iam.gserviceaccount.com",  # 39 characters: too long
        "insitu-{org}@platform-project.iam.gserviceaccount.com",
        "insitu-{org_id_short}@example.com",
    ],
)
def test_a_template_that_gives_no_valid_account_is_refused(template: str) -> None:
    context = gcs_context(gcs_service_account_template=template)
    with pytest.raises(InvalidConfiguration) as caught:
        PROVIDER.validate_config(GcsConfig(), context)
    assert "{org_id_short}" in (caught.value.fix or "")


def test_an_unreadable_key_file_is_refused_with_how_to_make_one(tmp_path: Path) -> None:
    broken = tmp_path / "key.json"
    broken.write_text("{}")
    with pytest.raises(InvalidConfiguration) as caught:
        PROVIDER.validate_config(GcsConfig(), gcs_context(gcs_credentials_file=broken))
    assert "gcloud iam service-accounts keys create" in (caught.value.fix or "")


# --- signing without a server ---------------------------------------------------------------


@pytest.fixture
def account(tmp_path: Path) -> ServiceAccount:
    return make_service_account(tmp_path)


def _sign(account: ServiceAccount, key: str, ttl: timedelta) -> tuple[str, datetime]:
    context = gcs_context(gcs_credentials_file=account.key_file)
    store = PROVIDER.open(GcsConfig(), location=PROVIDER.parse("gs://scans/"), context=context)
    signed = store.sign(key, ttl=ttl)
    return signed.url, signed.expires_at


def test_signed_urls_are_v4_get_only_for_one_object_on_storage_googleapis_com(
    monkeypatch: pytest.MonkeyPatch, account: ServiceAccount
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    url, expires_at = _sign(account, "ct/a b+c%.dcm", timedelta(minutes=15))
    assert url.startswith("https://storage.googleapis.com/scans/ct/a%20b%2Bc%25.dcm?")
    grant = verify_signed_url(url, account.public_key)
    assert (grant.bucket, grant.key, grant.email) == ("scans", "ct/a b+c%.dcm", account.email)
    assert grant.signed_headers == ("host",)
    assert abs((grant.expires_at - expires_at).total_seconds()) <= 2
    assert parse_qs(urlsplit(url).query)["X-Goog-Expires"] == ["900"]
    with pytest.raises(SignatureMismatch):
        verify_signed_url(url, account.public_key, method="PUT")
    with pytest.raises(SignatureMismatch):
        verify_signed_url(url.replace("a%20b", "a%20c"), account.public_key)
    other = make_service_account(account.key_file.parent, name="someone-else")
    with pytest.raises(SignatureMismatch):
        verify_signed_url(url, other.public_key)


def test_signed_urls_expire_after_their_ttl(
    monkeypatch: pytest.MonkeyPatch, account: ServiceAccount
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    url, expires_at = _sign(account, "x.png", timedelta(seconds=60))
    verify_signed_url(url, account.public_key, now=expires_at - timedelta(seconds=5))
    with pytest.raises(URLExpired):
        verify_signed_url(url, account.public_key, now=expires_at + timedelta(seconds=2))


# --- through Google's APIs (recorded shapes) ------------------------------------------------


@pytest.fixture
def platform(tmp_path: Path, google_apis: FakeGoogleApis) -> ServiceAccount:
    account = make_service_account(tmp_path, token_uri=f"{google_apis.url}/token")
    google_apis.add_key_file_account(account.email, account.public_key)
    return account


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch, fake_gcs_server: FakeGcsServer, gcs_bucket: str) -> str:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    seed_gcs(fake_gcs_server, gcs_bucket, {"scans/a.png": b"\x89PNG....", "scans/b.png": b"x"})
    return gcs_bucket


def _context(google_apis: FakeGoogleApis, platform: ServiceAccount, **more: Any) -> ProviderContext:
    return gcs_context(
        gcs_credentials_file=platform.key_file,
        gcs_endpoint=google_apis.url,
        gcs_iam_endpoint=google_apis.url,
        **more,
    )


def _verify(context: ProviderContext, uri: str) -> list[Check]:
    return PROVIDER.verify(GcsConfig(), location=PROVIDER.parse(uri), context=context)


def test_verify_passes_every_check_when_granted_and_cors_allows_the_portal(
    google_apis: FakeGoogleApis, platform: ServiceAccount, bucket: str
) -> None:
    google_apis.grant(bucket, platform.email, OBJECT_VIEWER | LEGACY_BUCKET_READER)
    google_apis.set_cors(bucket, [{"origin": [PORTAL], "method": ["GET", "HEAD"]}])
    checks = _verify(_context(google_apis, platform), f"gs://{bucket}/scans/")
    # One platform account for every org: allowed in development, and said so.
    assert [check.name for check in checks] == [*CHECK_NAMES, "tenant isolation"]
    assert all(check.ok for check in checks), checks
    assert platform.email in checks[0].detail
    assert checks[-1].detail.startswith("warning:")
    assert "INSITU_GCS_SERVICE_ACCOUNT_TEMPLATE" in (checks[-1].fix or "")


def test_verify_names_every_missing_permission_and_the_grant_command(
    google_apis: FakeGoogleApis, platform: ServiceAccount, bucket: str
) -> None:
    checks = _verify(_context(google_apis, platform), f"gs://{bucket}/scans/")
    assert [check.name for check in checks] == [*CHECK_NAMES, "tenant isolation"]
    first = checks[0]
    assert not first.ok
    assert "storage.objects.list" in first.detail and "storage.objects.get" in first.detail
    assert GRANT.format(bucket=bucket, email=platform.email) in (first.fix or "")
    assert all(c.detail.startswith("skipped:") for c in checks[1:-1])


def test_verify_names_only_the_permission_that_is_missing(
    google_apis: FakeGoogleApis, platform: ServiceAccount, bucket: str
) -> None:
    google_apis.grant(bucket, platform.email, frozenset({"storage.objects.list"}))
    first = _verify(_context(google_apis, platform), f"gs://{bucket}/scans/")[0]
    assert not first.ok
    assert "storage.objects.get" in first.detail and "storage.objects.list" not in first.detail


def test_verify_says_object_viewer_cannot_read_cors_and_how_to_let_it(
    google_apis: FakeGoogleApis, platform: ServiceAccount, bucket: str
) -> None:
    google_apis.grant(bucket, platform.email, OBJECT_VIEWER)
    checks = by_name(_verify(_context(google_apis, platform), f"gs://{bucket}/scans/"))
    assert all(checks[name].ok for name in CHECK_NAMES[:-1])
    cors = checks["bucket CORS"]
    assert not cors.ok
    assert "--role=roles/storage.legacyBucketReader" in (cors.fix or "")
    assert f"gcloud storage buckets describe gs://{bucket}" in (cors.fix or "")


def test_verify_without_cors_gives_the_cors_file_and_the_gcloud_command(
    google_apis: FakeGoogleApis, platform: ServiceAccount, bucket: str
) -> None:
    google_apis.grant(bucket, platform.email, OBJECT_VIEWER | LEGACY_BUCKET_READER)
    cors = by_name(_verify(_context(google_apis, platform), f"gs://{bucket}/scans/"))["bucket CORS"]
    assert not cors.ok and "no CORS rules" in cors.detail
    document = json_after(cors.fix or "", "save this as cors.json")
    assert document[0]["origin"] == [PORTAL]
    assert set(document[0]["method"]) == {"GET", "HEAD"}
    assert f"gcloud storage buckets update gs://{bucket} --cors-file=cors.json" in (cors.fix or "")


def test_verify_names_the_origin_cors_leaves_out_and_keeps_existing_entries(
    google_apis: FakeGoogleApis, platform: ServiceAccount, bucket: str
) -> None:
    google_apis.grant(bucket, platform.email, OBJECT_VIEWER | LEGACY_BUCKET_READER)
    existing = {"origin": ["https://other.example.com"], "method": ["GET"], "maxAgeSeconds": 60}
    google_apis.set_cors(bucket, [existing])
    cors = by_name(_verify(_context(google_apis, platform), f"gs://{bucket}/scans/"))["bucket CORS"]
    assert not cors.ok
    assert f"GET from {PORTAL}" in cors.detail and f"HEAD from {PORTAL}" in cors.detail
    document = json_after(cors.fix or "", "save this as cors.json")
    assert document[0] == existing and document[1]["origin"] == [PORTAL]


def test_verify_of_an_empty_prefix_says_no_objects_are_there(
    google_apis: FakeGoogleApis, platform: ServiceAccount, bucket: str
) -> None:
    google_apis.grant(bucket, platform.email, OBJECT_VIEWER)
    listed = by_name(_verify(_context(google_apis, platform), f"gs://{bucket}/nothing/"))
    assert not listed["list prefix"].ok and "no objects" in listed["list prefix"].detail


def test_a_403_names_the_missing_permission_and_the_grant_command(
    google_apis: FakeGoogleApis, platform: ServiceAccount, bucket: str
) -> None:
    store = PROVIDER.open(
        GcsConfig(),
        location=PROVIDER.parse(f"gs://{bucket}/"),
        context=_context(google_apis, platform),
    )
    with pytest.raises(AccessDenied) as caught:
        list(store.list_pages("scans/"))
    assert "storage.objects.list" in caught.value.detail
    assert GRANT.format(bucket=bucket, email=platform.email) in (caught.value.fix or "")
    google_apis.grant(bucket, platform.email, frozenset({"storage.objects.list"}))
    with pytest.raises(AccessDenied) as caught:
        store.get_range("scans/a.png", 0, 1)
    assert "storage.objects.get" in caught.value.detail


def test_a_missing_bucket_and_an_unreachable_endpoint_are_told_apart(
    monkeypatch: pytest.MonkeyPatch,
    google_apis: FakeGoogleApis,
    platform: ServiceAccount,
    bucket: str,
) -> None:
    from insitu.storage.gcs import store

    monkeypatch.setattr(store, "_RETRY", store._RETRY.with_timeout(0.5))  # not 20 s of retries
    context = _context(google_apis, platform)
    missing = PROVIDER.open(
        GcsConfig(), location=PROVIDER.parse("gs://no-such-bucket-x/"), context=context
    )
    with pytest.raises(ContainerNotFound) as caught:
        list(missing.list_pages(""))
    assert "gcloud storage buckets describe gs://no-such-bucket-x" in (caught.value.fix or "")
    PROVIDER.clear_cache()
    nowhere = gcs_context(gcs_credentials_file=platform.key_file, gcs_endpoint="http://127.0.0.1:9")
    store = PROVIDER.open(GcsConfig(), location=PROVIDER.parse(f"gs://{bucket}/"), context=nowhere)
    with pytest.raises(StorageUnreachable):
        store.head("scans/a.png")


def test_permission_names_are_read_from_gcs_and_iam_messages() -> None:
    gcs = (
        "x@p.iam.gserviceaccount.com does not have storage.objects.list access to the Google "
        "Cloud Storage bucket. Permission 'storage.objects.list' denied on resource"
    )
    assert missing_permission(gcs) == "storage.objects.list"
    assert missing_permission("Permission 'iam.serviceAccounts.signBlob' denied") == (
        "iam.serviceAccounts.signBlob"
    )
    assert missing_permission("Invalid Credentials") is None


# --- one account per org: impersonation and IAM signBlob ------------------------------------


def test_per_org_account_is_impersonated_and_signs_with_iam_sign_blob(
    google_apis: FakeGoogleApis, platform: ServiceAccount, bucket: str
) -> None:
    org_key = google_apis.add_google_managed_account(ORG_ACCOUNT)
    google_apis.allow_impersonation(platform.email, ORG_ACCOUNT)
    google_apis.grant(bucket, ORG_ACCOUNT, OBJECT_VIEWER | LEGACY_BUCKET_READER)
    google_apis.set_cors(bucket, [{"origin": ["*"], "method": ["GET", "HEAD"]}])
    context = _context(google_apis, platform, gcs_service_account_template=TEMPLATE)
    checks = _verify(context, f"gs://{bucket}/scans/")
    assert all(check.ok for check in checks), checks

    store = PROVIDER.open(GcsConfig(), location=PROVIDER.parse(f"gs://{bucket}/"), context=context)
    grant = verify_signed_url(store.sign("scans/a.png", ttl=timedelta(minutes=5)).url, org_key)
    assert (grant.email, grant.key) == (ORG_ACCOUNT, "scans/a.png")
    storage_callers = {c for _, path, c in google_apis.calls if "/storage/v1/" in path}
    assert storage_callers == {ORG_ACCOUNT}  # the platform account itself holds no grant
    assert any(path.endswith(":signBlob") for _, path, _ in google_apis.calls)


def test_without_token_creator_verify_says_what_the_operator_must_grant(
    google_apis: FakeGoogleApis, platform: ServiceAccount, bucket: str
) -> None:
    google_apis.add_google_managed_account(ORG_ACCOUNT)
    google_apis.grant(bucket, ORG_ACCOUNT, OBJECT_VIEWER)
    context = _context(google_apis, platform, gcs_service_account_template=TEMPLATE)
    first = _verify(context, f"gs://{bucket}/scans/")[0]
    assert not first.ok
    assert "iam.serviceAccounts.getAccessToken" in first.detail
    assert "roles/iam.serviceAccountTokenCreator" in (first.fix or "")
    assert f"--member=serviceAccount:{platform.email}" in (first.fix or "")


# --- CORS advice ----------------------------------------------------------------------------


def test_cors_advice_is_the_gcloud_cors_file_for_the_portal_origins() -> None:
    advice = get_provider("gcs").cors_advice(["https://portal.example.com/", "http://x:8080"])
    assert advice.provider == "gcs"
    assert advice.rules == [
        {
            "origin": ["https://portal.example.com", "http://x:8080"],
            "method": ["GET", "HEAD"],
            "responseHeader": [
                "Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "ETag",
            ],
            "maxAgeSeconds": 3600,
        }
    ]  # fmt: skip
    assert advice.command == "gcloud storage buckets update gs://BUCKET --cors-file=cors.json"


def test_signing_expiry_is_in_utc(account: ServiceAccount) -> None:
    _, expires_at = _sign(account, "x.png", timedelta(minutes=1))
    assert expires_at.tzinfo is not None
    assert abs((expires_at - datetime.now(UTC)).total_seconds() - 60) < 5
