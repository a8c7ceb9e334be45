"""Connect to Azure through the API, then Azure through the whole product on Azurite.

Entra ID is a small local HTTPS authority (INSITU_AZURE_AUTHORITY_HOST) whose token endpoint
redeems codes this test "issued" for a sign-in, answering with an ID token for a chosen
tenant, or with Entra's real error JSON; insitu talks to it as to login.microsoftonline.com.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from azure.storage.blob import CorsRule
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from insitu.audit.models import AuditEvent
from insitu.azure import service as azure
from insitu.azure.models import AzureTenant
from insitu.config import Settings
from insitu.connections import stores
from insitu.db import session_scope
from insitu.errors import Conflict
from insitu.jobs.inline import InlineBackend
from insitu.organizations.models import Organization
from tests.conftest import PORTAL_ORIGIN, Org
from tests.fixtures.azurite import ACCOUNT, TENANT, Azurite, TlsFiles, seed_blobs
from tests.images import png

CLIENT_ID = "0000c1d0-0000-0000-0000-000000000001"
CLIENT_SECRET = "insitu-app-secret-for-tests"
OTHER_TENANT = "22222222-3333-4444-5555-666666666666"
VICTIM_TENANT = "99999999-8888-7777-6666-555555555555"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
APP_ADMIN = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
USER_ROLE = "b79fbf4d-3ef9-4689-8143-76b194e85509"  # "Member": every user of a tenant has it
TOKEN_PATH = "/organizations/oauth2/v2.0/token"


@dataclass
class FakeEntra:
    """An Entra ID token endpoint: codes this test issued, each redeemable once."""

    port: int = 0
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    redeemed: list[dict[str, str]] = field(default_factory=list)

    @property
    def authority(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def issue(self, link: str, tenant: str, **claims: Any) -> tuple[str, str]:
        """What Entra does when an admin of ``tenant`` signs in at ``link``: (state, code)."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
        now = int(time.time())
        id_token = {
            "aud": CLIENT_ID,
            "iss": f"{self.authority}/{tenant}/v2.0",
            "tid": tenant,
            "nonce": query["nonce"],
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": "Ada Admin",
            "preferred_username": "ada@contoso.example",
            "oid": "00000000-0000-0000-0000-0000000000ad",
            "wids": [GLOBAL_ADMIN, USER_ROLE],
            **claims,
        }
        code = "0.AX" + secrets.token_urlsafe(24)
        self.codes[code] = {
            "id_token": {k: v for k, v in id_token.items() if v is not None},
            "challenge": query["code_challenge"],
            "redirect_uri": query["redirect_uri"],
        }
        return query["state"], code


def _jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'typ': 'JWT', 'alg': 'RS256', 'kid': 'test'})}.{part(claims)}.c2lnbmF0dXJl"


def _aadsts(status: int, error: str, description: str) -> tuple[int, dict[str, Any]]:
    return status, {
        "error": error,
        "error_description": description,
        "error_codes": [int(description[6:].split(":")[0])],
        "timestamp": "2026-11-24 21:00:00Z",
        "trace_id": "0b5a0c5e-0000-0000-0000-000000000000",
        "correlation_id": "8a2c4f0e-0000-0000-0000-000000000000",
    }


def _token_answer(fake: FakeEntra, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
        return _aadsts(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
            "request is the client secret value, not the client secret ID.",
        )
    issued = fake.codes.pop(form.get("code", ""), None)
    if form.get("grant_type") != "authorization_code" or issued is None:
        return _aadsts(
            400,
            "invalid_grant",
            "AADSTS54005: OAuth2 Authorization code was already redeemed, please retry with a "
            "new valid code or use an existing refresh token.",
        )
    verifier = form.get("code_verifier", "").encode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).decode().rstrip("=")
    if challenge != issued["challenge"]:
        return _aadsts(
            400,
            "invalid_grant",
            "AADSTS501481: The Code_Verifier does not match the code_challenge.",
        )
    if form.get("redirect_uri") != issued["redirect_uri"]:
        return _aadsts(
            400,
            "invalid_grant",
            "AADSTS50148: The redirect_uri specified in the token request does not match the "
            "redirect_uri used when acquiring the authorization code.",
        )
    return 200, {
        "token_type": "Bearer",
        "scope": "openid profile email",
        "expires_in": 3599,
        "access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.e30.",
        "id_token": _jwt(issued["id_token"]),
    }


@pytest.fixture(scope="module")
def fake_entra_server(azurite_tls: TlsFiles) -> Iterator[FakeEntra]:
    fake = FakeEntra()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            fake.redeemed.append(form)
            if self.path != TOKEN_PATH:
                status, body = 404, {"error": "not_found"}
            else:
                status, body = _token_answer(fake, form)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(azurite_tls.cert, azurite_tls.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    fake.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def entra(fake_entra_server: FakeEntra) -> FakeEntra:
    fake_entra_server.codes.clear()
    fake_entra_server.redeemed.clear()
    return fake_entra_server


@pytest.fixture
def settings(
    monkeypatch: pytest.MonkeyPatch, azurite_oauth: Azurite, entra: FakeEntra, settings: Settings
) -> Iterator[Settings]:
    """The shared settings, plus insitu's Azure application, Entra ID and the emulator's tokens."""
    from insitu.config import get_settings

    monkeypatch.setenv("INSITU_AZURE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("INSITU_AZURE_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("INSITU_AZURE_APP_NAME", "insitu-ingest")
    monkeypatch.setenv("INSITU_AZURE_AUTHORITY_HOST", entra.authority)
    monkeypatch.setenv(
        "INSITU_AZURE_CREDENTIAL_FACTORY", "tests.fixtures.azurite:unsigned_token_credential"
    )
    assert azurite_oauth.tls is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_oauth.tls.cert))
    monkeypatch.setenv("SSL_CERT_FILE", str(azurite_oauth.tls.cert))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def link(client: TestClient, org: Org) -> str:
    """A fresh sign-in-and-consent link for ``org``."""
    response = client.get("/v1/azure/connect", headers=org.headers)
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    return url


def consent(client: TestClient, org: Org) -> str:
    """The state from a fresh consent link for ``org``."""
    return parse_qs(urlsplit(link(client, org)).query)["state"][0]


def callback(
    client: TestClient, state: str, code: str | None = None, **extra: str
) -> httpx.Response:
    """Azure's redirect back, as the admin's browser follows it: no API key."""
    anonymous = TestClient(client.app)
    params = {"state": state, **({"code": code} if code else {}), **extra}
    return anonymous.get("/v1/azure/callback", params=params)


def connect_tenant(
    client: TestClient, org: Org, entra: FakeEntra, tenant: str = TENANT, **claims: Any
) -> httpx.Response:
    """An admin of ``tenant`` signs in at ``org``'s link, and Azure redirects back."""
    state, code = entra.issue(link(client, org), tenant, **claims)
    return callback(client, state, code)


def tenants_of(client: TestClient, org: Org) -> list[dict]:  # type: ignore[type-arg]
    response = client.get("/v1/organization/azure/tenants", headers=org.headers)
    assert response.status_code == 200, response.text
    tenants: list[dict] = response.json()  # type: ignore[type-arg]
    card = client.get("/v1/organization/azure", headers=org.headers).json()
    assert [account["id"] for account in card["accounts"]] == [t["tenant_id"] for t in tenants]
    return tenants


def test_connect_returns_an_openid_sign_in_with_a_signed_state_and_nonce(
    client: TestClient, org: Org, entra: FakeEntra
) -> None:
    response = client.get("/v1/azure/connect", headers=org.headers)
    assert response.status_code == 200, response.text
    url = urlsplit(response.json()["url"])
    assert (url.scheme, url.netloc, url.path) == (
        "https",
        f"127.0.0.1:{entra.port}",
        "/organizations/oauth2/v2.0/authorize",
    )
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["client_id"] == CLIENT_ID
    assert query["response_type"] == "code" and query["prompt"] == "consent"
    assert query["scope"].split() == ["openid", "profile"]
    assert query["redirect_uri"] == "http://testserver/v1/azure/callback"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    with session_scope() as session:
        claims = azure.read_state(query["state"], settings=client.app.state.settings)  # type: ignore[attr-defined]
        assert claims["org"] == session.get_one(Organization, org.id).id
    assert query["nonce"] == claims["nonce"]  # the ID token must carry this state's nonce
    assert query["state"] != consent(client, org)  # a new nonce every time
    assert CLIENT_SECRET not in response.text
    assert client.get("/v1/azure/connect").status_code == 401


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_callback_records_the_id_tokens_tenant_on_the_states_org_once(
    client: TestClient, org: Org, other_org: Org, entra: FakeEntra
) -> None:
    url = link(client, org)
    state, code = entra.issue(url, TENANT.upper())
    _, fresh = entra.issue(url, OTHER_TENANT)
    response = callback(client, state, code)
    assert response.status_code == 200, response.text
    assert response.json()["tenant_id"] == TENANT and response.json()["how"] == "consent"
    [tenant] = tenants_of(client, org)
    assert (tenant["tenant_id"], tenant["how"]) == (TENANT, "consent")
    assert tenants_of(client, other_org) == []
    [form] = entra.redeemed  # redeemed server to server, as the application
    assert (form["code"], form["client_secret"]) == (code, CLIENT_SECRET)
    assert form["redirect_uri"] == "http://testserver/v1/azure/callback"

    # The same state with another valid code of the same sign-in is still refused.
    replay = callback(client, state, fresh)
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]
    assert [t["tenant_id"] for t in tenants_of(client, org)] == [TENANT]


def test_a_forged_tenant_in_the_callback_is_ignored_for_the_id_tokens(
    client: TestClient, org: Org, entra: FakeEntra
) -> None:
    # The attacker is an admin of their own tenant only, and names the victim's in the query.
    state, code = entra.issue(link(client, org), OTHER_TENANT)
    forged = callback(client, state, code, tenant=VICTIM_TENANT, admin_consent="True")
    assert forged.status_code == 200, forged.text
    assert forged.json()["tenant_id"] == OTHER_TENANT
    assert [t["tenant_id"] for t in tenants_of(client, org)] == [OTHER_TENANT]


def test_the_old_admin_consent_callback_without_a_code_connects_nothing(
    client: TestClient, org: Org, entra: FakeEntra
) -> None:
    state = consent(client, org)
    refused = callback(client, state, tenant=VICTIM_TENANT, admin_consent="True")
    assert refused.status_code == 422, refused.text
    assert "no authorization code" in refused.json()["detail"]
    assert "/v1/azure/connect" in refused.json()["fix"]
    assert tenants_of(client, org) == [] and entra.redeemed == []


def test_a_code_entra_refuses_connects_nothing(
    client: TestClient, org: Org, entra: FakeEntra
) -> None:
    state = consent(client, org)
    refused = callback(client, state, "0.AX-made-up-code", tenant=VICTIM_TENANT)
    assert refused.status_code == 401, refused.text
    body = refused.json()
    assert "invalid_grant" in body["detail"] and "AADSTS54005" in body["detail"]
    assert "/v1/azure/connect" in body["fix"]
    assert tenants_of(client, org) == []


def test_a_code_from_another_orgs_sign_in_is_refused(
    client: TestClient, org: Org, other_org: Org, entra: FakeEntra
) -> None:
    """A victim admin's code (for the other org's link) replayed into this org's state."""
    _, victims_code = entra.issue(link(client, other_org), VICTIM_TENANT)
    refused = callback(client, consent(client, org), victims_code)
    assert refused.status_code == 401, refused.text
    assert tenants_of(client, org) == [] and tenants_of(client, other_org) == []


def test_a_wrong_application_secret_is_the_operators_to_fix(
    client: TestClient, org: Org, entra: FakeEntra, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, code = entra.issue(link(client, org), TENANT)
    monkeypatch.setattr(
        client.app.state.settings,  # type: ignore[attr-defined]
        "azure_client_secret",
        SecretStr("the-secret-id-not-its-value"),
    )
    refused = callback(client, state, code)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "invalid_configuration"
    assert "AADSTS7000215" in refused.json()["detail"]
    assert "INSITU_AZURE_CLIENT_SECRET" in refused.json()["fix"]
    assert tenants_of(client, org) == []


@pytest.mark.parametrize(
    ("claims", "detail"),
    [
        ({"aud": "00000000-0000-0000-0000-0000000000ff"}, "not insitu's application"),
        ({"nonce": "a-nonce-of-another-sign-in"}, "nonce does not match"),
        ({"exp": int(time.time()) - 3600}, "has expired"),
        ({"iss": f"https://sts.windows.net/{TENANT}/"}, "was issued by"),
        ({"tid": VICTIM_TENANT}, "was issued by"),
        ({"tid": None}, "names no tenant"),
    ],
    ids=["audience", "nonce", "expired", "issuer", "issuer-of-another-tenant", "no-tid"],
)
def test_an_id_token_not_issued_for_this_sign_in_is_refused(
    client: TestClient, org: Org, entra: FakeEntra, claims: dict[str, Any], detail: str
) -> None:
    refused = connect_tenant(client, org, entra, **claims)
    assert refused.status_code == 401, refused.text
    assert detail in refused.json()["detail"] and "/v1/azure/connect" in refused.json()["fix"]
    assert tenants_of(client, org) == []


def test_a_signer_without_an_admin_role_cannot_connect_the_tenant(
    client: TestClient, org: Org, entra: FakeEntra
) -> None:
    refused = connect_tenant(client, org, entra, wids=[USER_ROLE])
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "not_tenant_admin"
    assert "ada@contoso.example" in refused.json()["detail"]
    assert "Global Administrator" in refused.json()["fix"]
    assert tenants_of(client, org) == []
    assert connect_tenant(client, org, entra, wids=[APP_ADMIN]).status_code == 200


def test_a_token_without_wids_is_accepted_unless_the_operator_requires_it(
    client: TestClient, org: Org, entra: FakeEntra, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client.app.state.settings, "azure_require_admin_role", True)  # type: ignore[attr-defined]
    refused = connect_tenant(client, org, entra, wids=None)
    assert refused.status_code == 422, refused.text
    assert "groupMembershipClaims" in refused.json()["fix"]
    assert tenants_of(client, org) == []
    monkeypatch.setattr(client.app.state.settings, "azure_require_admin_role", False)  # type: ignore[attr-defined]
    assert connect_tenant(client, org, entra, wids=None).status_code == 200
    assert [t["tenant_id"] for t in tenants_of(client, org)] == [TENANT]


def block(card: dict, name: str) -> str:  # type: ignore[type-arg]
    [content] = [b["content"] for b in card["blocks"] if b["name"] == name]
    return str(content)


def test_azure_card_names_the_application_and_connect_action(
    client: TestClient, org: Org, entra: FakeEntra
) -> None:
    card = client.get("/v1/organization/azure", headers=org.headers).json()
    assert card["title"] == "Azure"
    facts = {fact["name"]: fact["value"] for fact in card["facts"]}
    assert facts["application_name"] == "insitu-ingest"
    assert facts["application_client_id"] == CLIENT_ID
    [action] = card["actions"]
    assert (action["label"], action["href"]) == ("Connect to Azure", "/v1/azure/connect")
    assert card["accounts"] == []
    assert any("No Azure tenant is connected" in warning for warning in card["warnings"])
    connect_tenant(client, org, entra)
    card = client.get("/v1/organization/azure", headers=org.headers).json()
    assert [account["id"] for account in card["accounts"]] == [TENANT]
    assert "consented" in card["accounts"][0]["detail"]
    assert not any("No Azure tenant" in warning for warning in card["warnings"])


def test_azure_card_role_commands_name_the_storage_account_scope_and_both_roles(
    client: TestClient, org: Org
) -> None:
    sub = "12345678-aaaa-bbbb-cccc-1234567890ab"
    params = {"subscription": sub, "resource_group": "rg-scans", "storage_account": "scans01"}
    card = client.get("/v1/organization/azure", params=params, headers=org.headers).json()
    scope = (
        f"/subscriptions/{sub}/resourceGroups/rg-scans/providers/Microsoft.Storage/"
        "storageAccounts/scans01"
    )
    assert block(card, "role_assignments").splitlines() == [
        f'az role assignment create --assignee {CLIENT_ID} --role "Storage Blob Data Reader" '
        f"--scope {scope}",
        f'az role assignment create --assignee {CLIENT_ID} --role "Storage Blob Delegator" '
        f"--scope {scope}",
    ]
    assert block(card, "cors_command").startswith("az storage cors add --services b")
    assert block(card, "cors_command").endswith("--account-name scans01")
    values = {field["name"]: field["values"] for field in card["inputs"]}
    assert values == {k: [v] for k, v in params.items()}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("subscription", "not-a-guid"),
        ("resource_group", "rg; rm -rf /"),
        ("storage_account", "Scans_01"),
    ],
)
def test_azure_card_refuses_inputs_that_are_no_azure_names(
    client: TestClient, org: Org, name: str, value: str
) -> None:
    response = client.get("/v1/organization/azure", params={name: value}, headers=org.headers)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"
    assert name in response.json()["detail"]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda state: state[:-2] + ("AA" if not state.endswith("AA") else "BB"),
        lambda state: "eyJvcmciOiAieCJ9." + state.split(".", 1)[1],
        lambda state: state.split(".", 1)[0],
        lambda state: "garbage",
        lambda state: state.split(".", 1)[0] + ".sïgnätüre",
    ],
    ids=["signature", "payload", "unsigned", "garbage", "non-ascii signature"],
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
    client: TestClient, org: Org, entra: FakeEntra
) -> None:
    state, code = entra.issue(link(client, org), TENANT)
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
    assert tenants_of(client, org) == [] and entra.redeemed == []
    assert callback(client, state, code).status_code == 200


@pytest.mark.parametrize(
    ("name", "value", "fix_part"),
    [
        ("azure_client_id", None, "INSITU_AZURE_CLIENT_ID"),
        ("azure_client_secret", None, "INSITU_AZURE_CLIENT_SECRET"),
        ("azure_authority_host", "http://login.example", "https://login.microsoftonline.com"),
    ],
    ids=["client-id", "client-secret", "plain-http-authority"],
)
def test_connect_needs_the_operator_to_configure_the_application(
    client: TestClient,
    org: Org,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: Any,
    fix_part: str,
) -> None:
    monkeypatch.setattr(client.app.state.settings, name, value)  # type: ignore[attr-defined]
    response = client.get("/v1/azure/connect", headers=org.headers)
    assert response.status_code == 422
    assert fix_part in response.json()["fix"]


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
    client: TestClient,
    org: Org,
    other_org: Org,
    entra: FakeEntra,
    monkeypatch: pytest.MonkeyPatch,
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
    assert connect_tenant(client, org, entra).json()["how"] == "consent"
    assert [t["how"] for t in tenants_of(client, org)] == ["consent"]
    with session_scope() as session:
        assert len(azure.list_tenants(session, org_id=org.id)) == 1
        assert session.query(AzureTenant).count() == 1


def test_an_azure_connection_needs_a_tenant_of_its_own_org(
    client: TestClient, org: Org, other_org: Org, azurite_oauth: Azurite, entra: FakeEntra
) -> None:
    settings = {"account_url": azurite_oauth.account_url, "tenant_id": TENANT}
    body = {"provider": "azure", "settings": settings}
    refused = client.post("/v1/connections", json=body, headers=org.headers)
    assert refused.status_code == 422 and "not connected" in refused.json()["detail"]
    assert connect_tenant(client, org, entra).status_code == 200
    created = client.post("/v1/connections", json=body, headers=org.headers)
    assert created.status_code == 201, created.text
    assert created.json()["settings"] == settings
    # Another org cannot reuse the first org's tenant, and is told nothing about it.
    other = client.post("/v1/connections", json=body, headers=other_org.headers)
    assert other.status_code == 422 and other.json()["detail"] == refused.json()["detail"]


def test_azure_end_to_end_verify_import_and_signed_url(
    api: TestClient, org: Org, worker: InlineBackend, azurite_oauth: Azurite, entra: FakeEntra
) -> None:
    container = azurite_oauth.new_container()
    images = {"scans/a b+c.png": png(7, 5), "scans/d.png": png(3, 2)}
    seed_blobs(azurite_oauth, container, images)
    cors = CorsRule([PORTAL_ORIGIN], ["GET", "HEAD"], allowed_headers=["*"])
    azurite_oauth.service_client().set_service_properties(cors=[cors])
    assert connect_tenant(api, org, entra).status_code == 200
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
    client: TestClient, org: Org, entra: FakeEntra
) -> None:
    anonymous = TestClient(client.app)
    state, code = entra.issue(link(client, org), TENANT)
    params = {"state": state, "code": code, "session_state": "0b5a0c5e-0000"}
    page = anonymous.get("/v1/azure/callback", params=params, headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert TENANT in page.text and "acme" in page.text
    assert "Storage Blob Delegator" in page.text and "az role assignment create" in page.text


# --- one organization per tenant ----------------------------------------------------------

INSITU = str(Path(sys.executable).with_name("insitu"))
ROOT = Path(__file__).resolve().parents[2]


def audit_events(action: str) -> list[AuditEvent]:
    with session_scope() as session:
        query = select(AuditEvent).where(AuditEvent.action == action)
        rows = list(session.scalars(query.order_by(AuditEvent.created_at)))
        session.expunge_all()
        return rows


def test_another_org_cannot_claim_a_tenant_by_consenting_to_it_again(
    client: TestClient, org: Org, other_org: Org, entra: FakeEntra, azurite_oauth: Azurite
) -> None:
    assert connect_tenant(client, org, entra).status_code == 200
    # The attacker is (or tricked) an admin of the victim's tenant into consenting for org B.
    stolen = connect_tenant(client, other_org, entra)
    assert stolen.status_code == 409, stolen.text
    body = stolen.json()
    assert body["error"] == "conflict"
    assert f"{TENANT} is connected to another organization" in body["detail"]
    assert f"insitu azure tenant move {TENANT} --to {other_org.id}" in body["fix"]
    assert org.id not in stolen.text and "acme" not in stolen.text  # never which org
    assert tenants_of(client, other_org) == []
    assert [t["tenant_id"] for t in tenants_of(client, org)] == [TENANT]
    settings = {"account_url": azurite_oauth.account_url, "tenant_id": TENANT}
    refused = client.post(
        "/v1/connections",
        json={"provider": "azure", "settings": settings},
        headers=other_org.headers,
    )
    assert refused.status_code == 422 and "not connected" in refused.json()["detail"]
    [connected] = audit_events("azure.tenant_connected")
    assert (connected.org_id, connected.actor) == (org.id, "system")
    assert (connected.target_type, connected.target_id) == ("azure_tenant", TENANT)
    assert connected.details == {"how": "consent"}


def test_an_operator_cannot_add_another_orgs_tenant_by_hand_either(
    client: TestClient, org: Org, other_org: Org, entra: FakeEntra, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client.app.state.settings, "operator_key", SecretStr(OPERATOR_KEY))  # type: ignore[attr-defined]
    assert connect_tenant(client, org, entra).status_code == 200
    operator = {**other_org.headers, "X-Insitu-Operator-Key": OPERATOR_KEY}
    refused = client.post(
        "/v1/organization/azure/tenants", json={"tenant_id": TENANT.upper()}, headers=operator
    )
    assert refused.status_code == 409, refused.text
    assert "another organization" in refused.json()["detail"]
    assert org.id not in refused.text
    assert tenants_of(client, other_org) == []


def test_only_the_operators_move_hands_a_tenant_to_another_org_and_both_logs_say_so(
    client: TestClient,
    org: Org,
    other_org: Org,
    entra: FakeEntra,
    azurite_oauth: Azurite,
    settings: Settings,
) -> None:
    assert connect_tenant(client, org, entra).status_code == 200
    body = {
        "provider": "azure",
        "settings": {"account_url": azurite_oauth.account_url, "tenant_id": TENANT},
    }
    connection = client.post("/v1/connections", json=body, headers=org.headers)
    assert connection.status_code == 201, connection.text

    def insitu(*args: str) -> subprocess.CompletedProcess[str]:
        # The operator runs the CLI on the server, with the same settings (which name a test
        # module as the credential factory, hence the repository on the path).
        path = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)]))
        env = {**os.environ, "PYTHONPATH": path, "COLUMNS": "200"}
        return subprocess.run([INSITU, *args], env=env, capture_output=True, text=True, timeout=120)

    moved = insitu("azure", "tenant", "move", TENANT, "--to", other_org.id)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert f"moved from org {org.id} to org {other_org.id}" in moved.stdout
    assert tenants_of(client, org) == []
    assert [t["tenant_id"] for t in tenants_of(client, other_org)] == [TENANT]
    # The former org's connection on that tenant no longer reaches the storage account.
    stores.clear()
    checks = client.post(
        f"/v1/connections/{connection.json()['id']}/verify",
        json={"source": f"{azurite_oauth.account_url}/scans/x/"},
        headers=org.headers,
    ).json()["checks"]
    assert not checks[0]["ok"] and "not connected to this organization" in checks[0]["detail"]
    assert client.post("/v1/connections", json=body, headers=other_org.headers).status_code == 201
    events = audit_events("azure.tenant_moved")
    assert {event.org_id for event in events} == {org.id, other_org.id}
    for event in events:
        assert (event.actor, event.target_type, event.target_id) == (
            "operator",
            "azure_tenant",
            TENANT,
        )
        assert event.details == {"from_org": org.id, "to_org": other_org.id}
    unknown = insitu("azure", "tenant", "move", OTHER_TENANT, "--to", org.id)
    assert unknown.returncode == 1 and "not connected to any organization" in unknown.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_orgs_claiming_one_tenant_at_once_cannot_both_win(
    client: TestClient, org: Org, other_org: Org
) -> None:
    first = session_scope()
    session = first.__enter__()
    azure.add_tenant(session, org=session.get_one(Organization, org.id), tenant_id=TENANT)
    outcome: list[BaseException | str] = []

    def second_claim() -> None:
        try:
            with session_scope() as other:
                row = other.get_one(Organization, other_org.id)
                azure.add_tenant(other, org=row, tenant_id=TENANT, how="consent")
            outcome.append("claimed")
        except BaseException as exc:  # noqa: BLE001 - what the race ended with is the result
            outcome.append(exc)

    racer = threading.Thread(target=second_claim)
    racer.start()
    racer.join(timeout=1.0)
    assert racer.is_alive(), "the second claim should wait on the first one's unique row"
    first.__exit__(None, None, None)  # the first claim commits
    racer.join(timeout=30)
    [result] = outcome
    assert isinstance(result, Conflict), result
    assert tenants_of(client, other_org) == []
    assert [t["tenant_id"] for t in tenants_of(client, org)] == [TENANT]
