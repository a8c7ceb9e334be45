"""Connect to Azure through the API, then Azure through the whole product on Azurite."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from azure.storage.blob import CorsRule
from fastapi.testclient import TestClient
from pydantic import SecretStr

from insitu.azure import service as azure
from insitu.azure.models import AzureTenant
from insitu.config import Settings
from insitu.db import session_scope
from insitu.jobs.inline import InlineBackend
from insitu.organizations.models import Organization
from tests.conftest import PORTAL_ORIGIN, Org
from tests.fixtures.azurite import ACCOUNT, TENANT, Azurite, seed_blobs
from tests.images import png

CLIENT_ID = "0000c1d0-0000-0000-0000-000000000001"
OTHER_TENANT = "22222222-3333-4444-5555-666666666666"


@pytest.fixture
def settings(
    monkeypatch: pytest.MonkeyPatch, azurite_oauth: Azurite, settings: Settings
) -> Iterator[Settings]:
    """The shared settings, plus insitu's Azure application and the emulator's tokens."""
    from insitu.config import get_settings

    monkeypatch.setenv("INSITU_AZURE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("INSITU_AZURE_APP_NAME", "insitu-ingest")
    monkeypatch.setenv(
        "INSITU_AZURE_CREDENTIAL_FACTORY", "tests.fixtures.azurite:unsigned_token_credential"
    )
    assert azurite_oauth.tls is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_oauth.tls.cert))
    monkeypatch.setenv("SSL_CERT_FILE", str(azurite_oauth.tls.cert))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def consent(client: TestClient, org: Org) -> str:
    """The state from a fresh admin-consent link for ``org``."""
    response = client.get("/v1/azure/connect", headers=org.headers)
    assert response.status_code == 200, response.text
    return parse_qs(urlsplit(response.json()["url"]).query)["state"][0]


def callback(client: TestClient, state: str, tenant: str = TENANT, **extra: str) -> httpx.Response:
    """Azure's redirect back, as the admin's browser follows it: no API key."""
    anonymous = TestClient(client.app)
    params = {"tenant": tenant, "state": state, "admin_consent": "True", **extra}
    return anonymous.get("/v1/azure/callback", params=params)


def tenants_of(client: TestClient, org: Org) -> list[dict]:  # type: ignore[type-arg]
    response = client.get("/v1/organization/azure", headers=org.headers)
    assert response.status_code == 200, response.text
    tenants: list[dict] = response.json()["tenants"]  # type: ignore[type-arg]
    return tenants


def test_connect_returns_the_admin_consent_url_with_a_signed_state(
    client: TestClient, org: Org
) -> None:
    response = client.get("/v1/azure/connect", headers=org.headers)
    assert response.status_code == 200, response.text
    url = urlsplit(response.json()["url"])
    assert (url.scheme, url.netloc, url.path) == (
        "https",
        "login.microsoftonline.com",
        "/organizations/v2.0/adminconsent",
    )
    query = parse_qs(url.query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"] == ["https://storage.azure.com/.default"]
    assert query["redirect_uri"] == ["http://testserver/v1/azure/callback"]
    assert query["state"][0] != consent(client, org)  # a new nonce every time
    assert client.get("/v1/azure/connect").status_code == 401


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_callback_records_the_tenant_on_the_states_org_once(
    client: TestClient, org: Org, other_org: Org
) -> None:
    state = consent(client, org)
    response = callback(client, state, TENANT.upper())
    assert response.status_code == 200, response.text
    assert response.json()["tenant_id"] == TENANT and response.json()["how"] == "consent"
    [tenant] = tenants_of(client, org)
    assert (tenant["tenant_id"], tenant["how"]) == (TENANT, "consent")
    assert tenants_of(client, other_org) == []

    replay = callback(client, state, OTHER_TENANT)
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]
    assert [t["tenant_id"] for t in tenants_of(client, org)] == [TENANT]


def test_organization_azure_names_the_application_to_assign_roles_to(
    client: TestClient, org: Org
) -> None:
    body = client.get("/v1/organization/azure", headers=org.headers).json()
    assert body["application"] == {"name": "insitu-ingest", "client_id": CLIENT_ID}
    assert body["roles"] == ["Storage Blob Data Reader", "Storage Blob Delegator"]
    assert any("storage account level" in line for line in body["instructions"])
    assert (
        f'az role assignment create --assignee {CLIENT_ID} --role "Storage Blob Delegator" '
        "--scope /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Storage/"
        "storageAccounts/ACCOUNT" in body["role_commands"]
    )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda state: state[:-2] + ("AA" if not state.endswith("AA") else "BB"),
        lambda state: "eyJvcmciOiAieCJ9." + state.split(".", 1)[1],
        lambda state: state.split(".", 1)[0],
        lambda state: "garbage",
    ],
    ids=["signature", "payload", "unsigned", "garbage"],
)
def test_a_tampered_state_is_refused(client: TestClient, org: Org, tamper) -> None:  # type: ignore[no-untyped-def]
    response = callback(client, tamper(consent(client, org)))
    assert response.status_code == 401, response.text
    assert "/v1/azure/connect" in response.json()["fix"]
    assert tenants_of(client, org) == []


def test_an_expired_state_is_refused(client: TestClient, org: Org, settings: Settings) -> None:
    with session_scope() as session:
        row = session.get_one(Organization, org.id)
        old = azure.new_state(row, settings=settings, now=time.time() - 31 * 60)
    response = callback(client, old)
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_a_declined_consent_records_nothing_and_leaves_the_state_usable(
    client: TestClient, org: Org
) -> None:
    state = consent(client, org)
    anonymous = TestClient(client.app)
    declined = anonymous.get(
        "/v1/azure/callback",
        params={
            "state": state,
            "error": "access_denied",
            "error_description": "AADSTS65004: User declined to consent to access the app.",
        },
    )
    assert declined.status_code == 422 and "AADSTS65004" in declined.json()["detail"]
    assert tenants_of(client, org) == []
    assert callback(client, state).status_code == 200


def test_connect_needs_the_operator_to_configure_the_application(
    client: TestClient, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client.app.state.settings, "azure_client_id", None)  # type: ignore[attr-defined]
    response = client.get("/v1/azure/connect", headers=org.headers)
    assert response.status_code == 422
    assert "INSITU_AZURE_CLIENT_ID" in response.json()["fix"]


OPERATOR_KEY = "operator-secret-for-tests"


def test_an_org_key_alone_cannot_claim_a_tenant(
    client: TestClient, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "/v1/organization/azure/tenants"
    refused = client.post(url, json={"tenant_id": TENANT}, headers=org.headers)
    assert refused.status_code == 403 and refused.json()["error"] == "operator_only"
    assert "/v1/azure/connect" in refused.json()["fix"]
    monkeypatch.setattr(client.app.state.settings, "operator_key", SecretStr(OPERATOR_KEY))  # type: ignore[attr-defined]
    wrong = {**org.headers, "X-Insitu-Operator-Key": "guess"}
    assert client.post(url, json={"tenant_id": TENANT}, headers=wrong).status_code == 403
    assert tenants_of(client, org) == []


def test_operators_register_a_tenant_by_hand_idempotently(
    client: TestClient, org: Org, other_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client.app.state.settings, "operator_key", SecretStr(OPERATOR_KEY))  # type: ignore[attr-defined]
    url = "/v1/organization/azure/tenants"
    operator = {**org.headers, "X-Insitu-Operator-Key": OPERATOR_KEY}
    first = client.post(url, json={"tenant_id": TENANT}, headers=operator)
    assert first.status_code == 201, first.text
    assert first.json()["how"] == "manual"
    again = client.post(url, json={"tenant_id": TENANT.upper()}, headers=operator)
    assert again.status_code == 200
    assert client.post(url, json={"tenant_id": "contoso"}, headers=operator).status_code == 422
    assert client.get(f"{url}/{TENANT}", headers=org.headers).status_code == 200
    hidden = client.get(f"{url}/{TENANT}", headers=other_org.headers)
    assert hidden.status_code == 404 and hidden.json()["error"] == "not_found"
    # A later consent for the same tenant upgrades the record instead of duplicating it.
    assert callback(client, consent(client, org)).json()["how"] == "consent"
    assert [t["how"] for t in tenants_of(client, org)] == ["consent"]
    with session_scope() as session:
        assert len(azure.list_tenants(session, org_id=org.id)) == 1
        assert session.query(AzureTenant).count() == 1


def test_an_azure_connection_needs_a_tenant_of_its_own_org(
    client: TestClient, org: Org, other_org: Org, azurite_oauth: Azurite
) -> None:
    settings = {"account_url": azurite_oauth.account_url, "tenant_id": TENANT}
    body = {"provider": "azure", "settings": settings}
    refused = client.post("/v1/connections", json=body, headers=org.headers)
    assert refused.status_code == 422 and "not connected" in refused.json()["detail"]
    callback(client, consent(client, org))
    created = client.post("/v1/connections", json=body, headers=org.headers)
    assert created.status_code == 201, created.text
    assert created.json()["settings"] == settings
    # Another org cannot reuse the first org's tenant, and is told nothing about it.
    other = client.post("/v1/connections", json=body, headers=other_org.headers)
    assert other.status_code == 422 and other.json()["detail"] == refused.json()["detail"]


def test_azure_end_to_end_verify_import_and_signed_url(
    api: TestClient, org: Org, worker: InlineBackend, azurite_oauth: Azurite
) -> None:
    container = azurite_oauth.new_container()
    images = {"scans/a b+c.png": png(7, 5), "scans/d.png": png(3, 2)}
    seed_blobs(azurite_oauth, container, images)
    cors = CorsRule([PORTAL_ORIGIN], ["GET", "HEAD"], allowed_headers=["*"])
    azurite_oauth.service_client().set_service_properties(cors=[cors])
    callback(api, consent(api, org))
    connection = api.post(
        "/v1/connections",
        json={
            "provider": "azure",
            "settings": {"account_url": azurite_oauth.account_url, "tenant_id": TENANT},
        },
    ).json()
    source = f"{azurite_oauth.account_url}/{container}/scans/"
    verified = api.post(f"/v1/connections/{connection['id']}/verify", json={"source": source})
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"], verified.json()

    project = api.post("/v1/projects", json={"name": "scans", "self_hosted": True}).json()
    started = api.post(
        f"/v1/projects/{project['id']}/imports",
        json={"source": source, "connection_id": connection["id"]},
    )
    assert started.status_code == 202, started.text
    worker.join()
    job = api.get(f"/v1/imports/{started.json()['id']}").json()
    assert job["counts"] == {"listed": 2, "imported": 2, "already_present": 0, "failed": 0}, job
    assets = api.get(f"/v1/projects/{project['id']}/assets").json()["items"]
    by_key = {asset["key"]: asset for asset in assets}
    assert sorted(by_key) == sorted(images)
    asset = by_key["scans/a b+c.png"]
    assert asset["location"] == f"az://{ACCOUNT}/{container}/scans/a b+c.png"
    assert (asset["width"], asset["height"]) == (7, 5)
    signed = api.get(f"/v1/assets/{asset['id']}/url").json()
    with httpx.Client(verify=azurite_oauth.verify) as browser:
        response = browser.get(signed["url"], headers={"Origin": PORTAL_ORIGIN})
    assert response.status_code == 200 and response.content == images["scans/a b+c.png"]
    assert response.headers["access-control-allow-origin"] == PORTAL_ORIGIN


def test_a_browser_returning_from_consent_sees_what_to_do_next(
    client: TestClient, org: Org
) -> None:
    anonymous = TestClient(client.app)
    params = {"tenant": TENANT, "state": consent(client, org), "admin_consent": "True"}
    page = anonymous.get("/v1/azure/callback", params=params, headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert TENANT in page.text and "acme" in page.text
    assert "Storage Blob Delegator" in page.text and "az role assignment create" in page.text
