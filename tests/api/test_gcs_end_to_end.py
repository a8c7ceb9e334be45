"""GCS through the whole product: org settings, connections, verify, import, signed URLs.

Objects live on fake-gcs-server; URLs are signed with a service-account key made at test time
and checked with tests/goog4.py (the emulator checks no signatures).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from insitu.config import get_settings
from insitu.jobs.inline import InlineBackend
from tests.conftest import Org
from tests.fixtures.gcs import FakeGcsServer, ServiceAccount, make_service_account, seed_gcs
from tests.goog4 import URLExpired, verify_signed_url
from tests.images import png

PORTAL = "http://portal.insitu.test:8080"
TEMPLATE = "insitu-{org_id_short}@platform-project.iam.gserviceaccount.com"


def configure(api: TestClient, monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """Set INSITU_* variables after the app started, for the API and the import worker alike."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    api.app.state.settings = get_settings()  # type: ignore[attr-defined]


@pytest.fixture
def account(tmp_path: Path) -> ServiceAccount:
    return make_service_account(tmp_path)


@pytest.fixture
def gcs(
    api: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    gcs_emulator: str,
    account: ServiceAccount,
) -> dict[str, str]:
    configure(api, monkeypatch, INSITU_GCS_CREDENTIALS_FILE=str(account.key_file))
    connection = api.post("/v1/connections", json={"provider": "gcs", "settings": {}})
    assert connection.status_code == 201, connection.text
    project = api.post("/v1/projects", json={"name": "scans"}).json()
    return {"connection": connection.json()["id"], "project": project["id"]}


def run(api: TestClient, worker: InlineBackend, gcs: dict[str, str], **body: object) -> dict:  # type: ignore[type-arg]
    body = {"connection_id": gcs["connection"], **body}
    response = api.post(f"/v1/projects/{gcs['project']}/imports", json=body)
    assert response.status_code == 202, response.text
    worker.join()
    return api.get(f"/v1/imports/{response.json()['id']}").json()


def test_prefix_import_then_signed_urls_that_fetch_exactly_each_file(
    api: TestClient,
    worker: InlineBackend,
    gcs: dict[str, str],
    gcs_bucket: str,
    fake_gcs_server: FakeGcsServer,
    account: ServiceAccount,
) -> None:
    sizes = {"imgs/a.png": (2, 3), "imgs/b c+%é.png": (5, 7)}
    files = {key: png(*size) for key, size in sizes.items()}
    seed_gcs(fake_gcs_server, gcs_bucket, {**files, "other/x.png": png()})
    job = run(api, worker, gcs, source=f"gs://{gcs_bucket}/imgs/")
    assert job["status"] == "succeeded", job
    assert job["counts"] == {"listed": 2, "imported": 2, "already_present": 0, "failed": 0}
    assets = api.get(f"/v1/projects/{gcs['project']}/assets").json()["items"]
    assert {a["location"] for a in assets} == {f"gs://{gcs_bucket}/{key}" for key in files}
    for asset in assets:
        assert (asset["width"], asset["height"]) == sizes[asset["key"]]
        signed = api.get(f"/v1/assets/{asset['id']}/url").json()
        grant = verify_signed_url(signed["url"], account.public_key)
        assert (grant.bucket, grant.key, grant.method) == (gcs_bucket, asset["key"], "GET")
        expires_at = datetime.fromisoformat(signed["expires_at"])
        with pytest.raises(URLExpired):
            verify_signed_url(signed["url"], account.public_key, now=expires_at + timedelta(1))
        assert timedelta(minutes=14) < expires_at - datetime.now(UTC) <= timedelta(minutes=15)
        assert httpx.get(signed["url"]).content == files[asset["key"]]
    again = run(api, worker, gcs, source=f"gs://{gcs_bucket}/imgs/")
    assert again["counts"]["already_present"] == 2 and again["counts"]["imported"] == 0


def test_an_import_of_a_relative_path_is_refused_with_the_gs_form(
    api: TestClient, gcs: dict[str, str]
) -> None:
    for source in ("my-bucket/test-images/", "gs:///test-images/"):
        response = api.post(
            f"/v1/projects/{gcs['project']}/imports",
            json={"connection_id": gcs["connection"], "source": source},
        )
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error"] == "invalid_location"
        assert "gs://" in f"{body['detail']} {body['fix']}"


def test_verify_endpoint_has_the_s3_shape_and_explains_the_emulators_missing_iam(
    api: TestClient, gcs: dict[str, str], gcs_bucket: str
) -> None:
    response = api.post(
        f"/v1/connections/{gcs['connection']}/verify", json={"source": f"gs://{gcs_bucket}/x/"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"ok", "source", "checks"} and body["ok"] is False
    first = body["checks"][0]
    assert set(first) == {"name", "ok", "detail", "fix"}
    # fake-gcs-server answers testIamPermissions with 404, like a bucket that does not exist.
    assert first["name"] == "IAM permissions" and not first["ok"] and first["fix"]


def test_cors_endpoint_gives_the_gcloud_cors_file(api: TestClient) -> None:
    body = api.get("/v1/cors", params={"provider": "gcs"}).json()
    assert body["provider"] == "gcs"
    [entry] = body["rules"]
    assert entry["origin"] == [PORTAL] and set(entry["method"]) == {"GET", "HEAD"}
    assert body["command"] == "gcloud storage buckets update gs://BUCKET --cors-file=cors.json"


# --- GET /v1/organization/gcs ---------------------------------------------------------------


def facts(card: dict) -> dict:  # type: ignore[type-arg]
    return {fact["name"]: fact["value"] for fact in card["facts"]}


def block(card: dict, name: str) -> str:  # type: ignore[type-arg]
    [content] = [b["content"] for b in card["blocks"] if b["name"] == name]
    return str(content)


def test_org_gcs_card_shows_the_per_org_account_role_and_grant_command(
    api: TestClient, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(api, monkeypatch, INSITU_GCS_SERVICE_ACCOUNT_TEMPLATE=TEMPLATE)
    card = api.get("/v1/organization/gcs", params={"bucket": "gs://scans/"}).json()
    email = f"insitu-{org.id[:16]}@platform-project.iam.gserviceaccount.com"
    assert card["title"] == "Google Cloud"
    assert facts(card)["service_account_email"] == email
    assert facts(card)["service_account_scope"] == "this organization's own"
    assert facts(card)["role"] == "roles/storage.objectViewer"
    assert block(card, "grant_command") == (
        "gcloud storage buckets add-iam-policy-binding gs://scans "
        f"--member=serviceAccount:{email} --role=roles/storage.objectViewer"
    )
    assert "roles/storage.legacyBucketReader" in block(card, "cors_reader_grant_command")
    assert block(card, "cors_command") == (
        "gcloud storage buckets update gs://scans --cors-file=cors.json"
    )
    [entry] = json.loads(block(card, "cors"))
    assert entry["origin"] == card["portal_origins"]
    assert card["warnings"] == []


def test_org_gcs_card_differs_per_org_with_a_template(
    client: TestClient, org: Org, other_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(client, monkeypatch, INSITU_GCS_SERVICE_ACCOUNT_TEMPLATE=TEMPLATE)
    first = client.get("/v1/organization/gcs", headers=org.headers).json()
    second = client.get("/v1/organization/gcs", headers=other_org.headers).json()
    assert facts(first)["service_account_email"] != facts(second)["service_account_email"]
    assert facts(first)["service_account_email"] not in json.dumps(second)


def test_org_gcs_card_with_one_platform_account_or_none(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    unset = api.get("/v1/organization/gcs").json()
    assert facts(unset)["service_account_email"] is None
    assert "SERVICE_ACCOUNT_EMAIL" in block(unset, "grant_command")
    assert "INSITU_GCS_SERVICE_ACCOUNT_EMAIL" in unset["warnings"][0]
    email = "insitu@platform-project.iam.gserviceaccount.com"
    configure(api, monkeypatch, INSITU_GCS_SERVICE_ACCOUNT_EMAIL=email)
    card = api.get("/v1/organization/gcs", params={"bucket": "scans"}).json()
    assert facts(card)["service_account_email"] == email
    assert facts(card)["service_account_scope"] == "shared by every organization here"
    assert f"--member=serviceAccount:{email}" in block(card, "grant_command")


def test_org_gcs_card_refuses_a_bucket_that_is_no_bucket_name(api: TestClient) -> None:
    response = api.get("/v1/organization/gcs", params={"bucket": "My Bucket; rm -rf /"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"


def test_org_gcs_card_needs_an_api_key(client: TestClient) -> None:
    assert client.get("/v1/organization/gcs").status_code == 401


# --- one account for all orgs -----------------------------------------------------------------


def test_in_production_no_org_may_connect_gcs_through_the_account_all_orgs_share(
    client: TestClient, org: Org, other_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = "insitu@platform-project.iam.gserviceaccount.com"
    configure(
        client,
        monkeypatch,
        INSITU_ENVIRONMENT="production",
        INSITU_GCS_SERVICE_ACCOUNT_EMAIL=email,
    )
    body = {"provider": "gcs", "settings": {}}
    refused = client.post("/v1/connections", json=body, headers=other_org.headers)
    assert refused.status_code == 422, refused.text
    assert "shared by all organizations" in refused.json()["detail"]
    assert "INSITU_GCS_SERVICE_ACCOUNT_TEMPLATE" in refused.json()["fix"]
    settings = client.get("/v1/organization/gcs", headers=other_org.headers).json()
    assert facts(settings)["service_account_scope"] == "shared by every organization here"
    assert any(
        "shared by all organizations" in line and "refuses GCS connections" in line
        for line in settings["warnings"]
    )
    configure(client, monkeypatch, INSITU_GCS_SERVICE_ACCOUNT_TEMPLATE=TEMPLATE)
    created = client.post("/v1/connections", json=body, headers=other_org.headers)
    assert created.status_code == 201, created.text
    own = client.get("/v1/organization/gcs", headers=other_org.headers).json()
    assert facts(own)["service_account_scope"] == "this organization's own"
    assert not any("shared by all" in line for line in own["warnings"])


def test_org_gcs_settings_say_plainly_when_the_account_is_shared(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = "insitu@platform-project.iam.gserviceaccount.com"
    configure(api, monkeypatch, INSITU_GCS_SERVICE_ACCOUNT_EMAIL=email)
    body = api.get("/v1/organization/gcs").json()
    assert any(
        line.startswith(f"{email} is shared by all organizations on this server")
        for line in body["warnings"]
    )


# --- a bug is not the bucket's fault -----------------------------------------------------------


def test_a_bug_while_signing_is_an_internal_error_with_its_traceback_not_a_storage_error(
    api: TestClient,
    worker: InlineBackend,
    gcs: dict[str, str],
    gcs_bucket: str,
    fake_gcs_server: FakeGcsServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from google.cloud import storage

    seed_gcs(fake_gcs_server, gcs_bucket, {"imgs/a.png": png()})
    assert run(api, worker, gcs, source=f"gs://{gcs_bucket}/imgs/")["status"] == "succeeded"
    [asset] = api.get(f"/v1/projects/{gcs['project']}/assets").json()["items"]

    def bug(*_args: object, **_kwargs: object) -> None:
        raise TypeError("a bug in insitu, not the bucket")

    monkeypatch.setattr(storage.Blob, "generate_signed_url", bug)
    quiet = TestClient(api.app, raise_server_exceptions=False, headers=dict(api.headers))
    response = quiet.get(f"/v1/assets/{asset['id']}/url")
    assert response.status_code == 500, response.text
    assert response.json()["error"] == "internal_error"
    logged = [record for record in caplog.records if record.exc_info]
    assert any(isinstance(record.exc_info[1], TypeError) for record in logged if record.exc_info)
