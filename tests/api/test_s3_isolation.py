"""Org B tries to read org A's S3 bucket through insitu's shared AWS identity, and fails.

In production a connection must reach storage through something only its org controls (a
customer role with the org's external ID, the org's own platform role, or access keys stored on
the connection); insitu's own AWS identity, which every org shares, is refused unless the
operator declares a single-tenant deployment. Also: a bug in the S3 code is a 500
internal_error, never a storage_error blaming the customer's bucket.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from insitu.config import Settings
from insitu.connections.models import Connection
from insitu.db import session_scope
from insitu.jobs.inline import InlineBackend
from insitu.storage.s3.store import S3ObjectStore
from tests.conftest import Org
from tests.images import png
from tests.sigv4 import SignatureMismatch, verify_presigned_url

OWN_KEY_ID = "AKIAORGBOWNKEY000001"
OWN_SECRET = "org-b-own-secret-0123456789abcdefghij"


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    """A production deployment (the settings fixture then sets a random 48-character key)."""
    monkeypatch.setenv("INSITU_ENVIRONMENT", "production")


@pytest.fixture
def org_a_bucket(s3_bucket: str, seed_objects: Callable[..., None]) -> str:
    """Org A's bucket, readable by insitu's own AWS identity (granted for org A)."""
    seed_objects(s3_bucket, {"scans/a.png": png(4, 3)})
    return s3_bucket


def _as(client: TestClient, org: Org) -> TestClient:
    client.headers.update(org.headers)
    return client


def _import(api: TestClient, worker: InlineBackend, connection: str, source: str) -> dict[str, Any]:
    project = api.post("/v1/projects", json={"name": "stolen"}).json()["id"]
    body = {"connection_id": connection, "source": source}
    started = api.post(f"/v1/projects/{project}/imports", json=body)
    assert started.status_code == 202, started.text
    worker.join()
    job: dict[str, Any] = api.get(f"/v1/imports/{started.json()['id']}").json()
    job["project"] = project
    return job


@pytest.mark.usefixtures("production")
@pytest.mark.parametrize("with_endpoint", [False, True])
def test_org_b_cannot_connect_through_the_shared_identity_in_production(
    client: TestClient, other_org: Org, aws_env: str, org_a_bucket: str, with_endpoint: bool
) -> None:
    api = _as(client, other_org)
    settings = {"endpoint_url": aws_env} if with_endpoint else {}
    response = api.post("/v1/connections", json={"provider": "s3", "settings": settings})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_configuration"
    assert "insitu's own AWS identity" in body["detail"]
    for way_out in ("customer_role", "access_key_id", "INSITU_SINGLE_TENANT=true"):
        assert way_out in body["fix"]
    assert api.get("/v1/connections").json() == []


def test_a_shared_identity_connection_cannot_import_once_in_production(
    client: TestClient,
    other_org: Org,
    worker: InlineBackend,
    settings: Settings,
    aws_env: str,
    org_a_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = _as(client, other_org)
    made = api.post("/v1/connections", json={"provider": "s3", "settings": {}})
    assert made.status_code == 201  # development allows it, with a warning
    monkeypatch.setattr(settings, "environment", "production")  # the deployment moves on
    job = _import(api, worker, made.json()["id"], f"s3://{org_a_bucket}/scans/")
    assert job["status"] == "failed", job
    assert job["error"]["error"] == "invalid_configuration"
    assert api.get(f"/v1/projects/{job['project']}/assets").json()["items"] == []


@pytest.fixture
def single_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator declares that one organization uses this deployment."""
    monkeypatch.setenv("INSITU_SINGLE_TENANT", "true")


@pytest.mark.usefixtures("production", "single_tenant")
def test_a_single_tenant_production_may_use_the_shared_identity(
    client: TestClient, org: Org, worker: InlineBackend, aws_env: str, org_a_bucket: str
) -> None:
    api = _as(client, org)
    made = api.post("/v1/connections", json={"provider": "s3", "settings": {}})
    assert made.status_code == 201, made.text
    job = _import(api, worker, made.json()["id"], f"s3://{org_a_bucket}/scans/")
    assert job["status"] == "succeeded", job
    assert client.app.state.settings.environment == "production"  # type: ignore[attr-defined]


@pytest.mark.usefixtures("production")
def test_own_access_keys_work_end_to_end_and_are_never_shown_or_stored_in_clear(
    client: TestClient,
    other_org: Org,
    worker: InlineBackend,
    aws_env: str,
    org_a_bucket: str,
) -> None:
    api = _as(client, other_org)
    settings = {
        "endpoint_url": aws_env,
        "access_key_id": OWN_KEY_ID,
        "secret_access_key": OWN_SECRET,
    }
    made = api.post("/v1/connections", json={"provider": "s3", "settings": settings})
    assert made.status_code == 201, made.text
    job = _import(api, worker, made.json()["id"], f"s3://{org_a_bucket}/scans/")
    assert job["status"] == "succeeded", job
    [asset] = api.get(f"/v1/projects/{job['project']}/assets").json()["items"]

    url = api.get(f"/v1/assets/{asset['id']}/url").json()["url"]
    assert f"X-Amz-Credential={OWN_KEY_ID}%2F" in url  # signed with the org's key ...
    verify_presigned_url(url, secret_key=OWN_SECRET)  # ... and its secret
    with pytest.raises(SignatureMismatch):
        verify_presigned_url(url, secret_key="testing")  # not insitu's own
    assert httpx.get(url).content == png(4, 3)

    for shown in (made.text, api.get("/v1/connections").text):
        assert OWN_SECRET not in shown and OWN_KEY_ID not in shown
    [listed] = api.get("/v1/connections").json()
    assert "secret_access_key" not in listed["settings"]
    assert listed["settings"]["endpoint_url"] == aws_env
    with session_scope() as session:
        row = session.scalars(select(Connection).where(Connection.id == listed["id"])).one()
        assert OWN_SECRET not in row.settings_encrypted
        assert OWN_KEY_ID not in row.settings_encrypted


def test_development_verify_warns_when_the_shared_identity_is_used(
    client: TestClient, org: Org, aws_env: str, org_a_bucket: str
) -> None:
    api = _as(client, org)
    shared = api.post("/v1/connections", json={"provider": "s3", "settings": {}}).json()
    own = api.post(
        "/v1/connections",
        json={
            "provider": "s3",
            "settings": {
                "endpoint_url": aws_env,
                "access_key_id": OWN_KEY_ID,
                "secret_access_key": OWN_SECRET,
            },
        },
    ).json()
    source = {"source": f"s3://{org_a_bucket}/scans/"}
    checks = api.post(f"/v1/connections/{shared['id']}/verify", json=source).json()["checks"]
    [warning] = [check for check in checks if check["name"] == "tenant isolation"]
    assert warning["ok"] is True and warning["detail"].startswith("warning:")
    assert "INSITU_SINGLE_TENANT" in warning["detail"]
    assert "customer_role" in warning["fix"] and "access_key_id" in warning["fix"]
    checks = api.post(f"/v1/connections/{own['id']}/verify", json=source).json()["checks"]
    assert "tenant isolation" not in {check["name"] for check in checks}
    assert next(c for c in checks if c["name"] == "list prefix")["ok"]


def test_a_bug_in_the_s3_code_is_an_internal_error_not_a_storage_error(
    client: TestClient,
    org: Org,
    worker: InlineBackend,
    aws_env: str,
    org_a_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = _as(client, org)
    made = api.post("/v1/connections", json={"provider": "s3", "settings": {}}).json()
    job = _import(api, worker, made["id"], f"s3://{org_a_bucket}/scans/")
    [asset] = api.get(f"/v1/projects/{job['project']}/assets").json()["items"]

    def buggy(*_: object, **__: object) -> str:
        raise TypeError("sign() got an unexpected keyword argument 'expires'")

    monkeypatch.setattr("insitu.storage.s3.store.obstore.sign", buggy)
    lenient = TestClient(client.app, raise_server_exceptions=False, headers=org.headers)
    response = lenient.get(f"/v1/assets/{asset['id']}/url")
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"


def test_a_bug_inside_a_store_read_propagates_unchanged(
    aws_env: str, org_a_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from insitu.storage.base import ProviderContext
    from insitu.storage.s3 import PROVIDER, S3Config

    context = ProviderContext(Settings(), "org1", "c1", "ext")
    store = PROVIDER.open(
        S3Config(), location=PROVIDER.parse(f"s3://{org_a_bucket}/"), context=context
    )
    assert isinstance(store, S3ObjectStore)
    assert store.get_range("scans/a.png", 0, 4) == png(4, 3)[:4]  # the SDK path works

    def buggy(*_: object, **__: object) -> bytes:
        raise KeyError("ContentLength")

    monkeypatch.setattr("insitu.storage.s3.store.obstore.get_range", buggy)
    with pytest.raises(KeyError):
        store.get_range("scans/a.png", 0, 4)
    monkeypatch.setattr(store.identity, "client", lambda _service: None)
    with pytest.raises(AttributeError):
        store.head("scans/a.png")
