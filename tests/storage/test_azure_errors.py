"""How Azure's real error responses map to insitu's errors, checks and fixes.

Azurite has no RBAC, so role failures are served here by a tiny HTTPS server that answers the
SDK exactly as Azure Storage does (status, ``x-ms-error-code`` header, error XML body; HEAD
errors carry no body). The official SDK parses them; insitu maps what the SDK raises. Token
errors come from azure-identity's real ClientSecretCredential talking to a fake Entra ID
authority that answers with Entra's real AADSTS error JSON.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from insitu.errors import AccessDenied, ContainerNotFound, KeyAccessDenied, ObjectNotFound
from insitu.storage.azure import DELEGATION_KEY, TOKEN, AzureConfig, AzureProvider
from tests.fixtures.azurite import TENANT, TlsFiles
from tests.storage.azure_helpers import azure_context, azure_settings

ACCOUNT = "contosodata"
CLIENT_ID = "00000000-0000-0000-0000-00000000c1d0"
PERMISSION_MISMATCH = (
    403,
    "AuthorizationPermissionMismatch",
    "This request is not authorized to perform this operation using this permission.",
)
AUTHORIZATION_FAILURE = (
    403,
    "AuthorizationFailure",
    "This request is not authorized to perform this operation.",
)
WRONG_TENANT = (
    401,
    "InvalidAuthenticationInfo",
    "Server failed to authenticate the request. Please refer to the information in the "
    "www-authenticate header.",
)
CPK = (
    409,
    "BlobUsesCustomerSpecifiedEncryption",
    "The blob is encrypted with customer specified encryption, but it was not provided in the "
    "request.",
)
BLOB_NOT_FOUND = (404, "BlobNotFound", "The specified blob does not exist.")
CONTAINER_NOT_FOUND = (404, "ContainerNotFound", "The specified container does not exist.")

LISTING = """<?xml version="1.0" encoding="utf-8"?><EnumerationResults \
ServiceEndpoint="https://contosodata.blob.core.windows.net/" ContainerName="scans"><Prefix>x/\
</Prefix><MaxResults>100</MaxResults><Blobs><Blob><Name>x/a.png</Name><Properties>\
<Creation-Time>Mon, 24 Nov 2026 20:00:00 GMT</Creation-Time>\
<Last-Modified>Mon, 24 Nov 2026 20:00:00 GMT</Last-Modified><Etag>0x8DD2B6F9C7F1A2B</Etag>\
<Content-Length>5</Content-Length><Content-Type>image/png</Content-Type>\
<BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier><LeaseStatus>unlocked</LeaseStatus>\
<LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted></Properties></Blob>\
</Blobs><NextMarker /></EnumerationResults>"""
DELEGATION_KEY_XML = """<?xml version="1.0" encoding="utf-8"?><UserDelegationKey>\
<SignedOid>00000000-0000-0000-0000-0000000000aa</SignedOid><SignedTid>{TENANT}</SignedTid>\
<SignedStart>2026-11-24T20:55:00Z</SignedStart><SignedExpiry>2099-11-25T02:55:00Z</SignedExpiry>\
<SignedService>b</SignedService><SignedVersion>2025-11-05</SignedVersion>\
<Value>ZmFrZSBkZWxlZ2F0aW9uIGtleSBmb3IgdGVzdHMgb25seSE=</Value></UserDelegationKey>""".replace(
    "{TENANT}", TENANT
)
SERVICE_PROPERTIES = """<?xml version="1.0" encoding="utf-8"?><StorageServiceProperties>\
<Cors /></StorageServiceProperties>"""


@dataclass
class FakeAzure:
    """What each kind of request answers: ``None`` for success, else (status, code, message)."""

    port: int
    answers: dict[str, tuple[int, str, str] | None] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)

    @property
    def account_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/{ACCOUNT}"


def _kind(method: str, path: str) -> str:
    query = parse_qs(urlsplit(path).query)
    comp = query.get("comp", [""])[0]
    if comp == "userdelegationkey":
        return "delegation_key"
    if comp == "properties" and query.get("restype") == ["service"]:
        return "service_properties"
    if comp == "list":
        return "list"
    return "head" if method == "HEAD" else "get"


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAzure

    def log_message(self, *_args: Any) -> None:
        pass

    def _answer(self) -> None:
        kind = _kind(self.command, self.path)
        self.fake.seen.append(kind)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        answer = self.fake.answers.get(kind)
        headers = {
            "x-ms-request-id": "5d4a8b3e-e01e-0041-1c2f-3f5a4c000000",
            "x-ms-version": "2025-11-05",
            "Date": formatdate(usegmt=True),
            "Server": "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0",
        }
        if answer is not None:
            status, code, message = answer
            headers["x-ms-error-code"] = code
            body = (
                f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
                f"<Message>{message}\nRequestId:5d4a8b3e-e01e-0041-1c2f-3f5a4c000000\n"
                "Time:2026-11-24T21:00:00.0000000Z</Message>"
            )
            if code == "InvalidAuthenticationInfo":
                body += "<AuthenticationErrorDetail>Issuer validation failed. Issuer did not match."
                body += "</AuthenticationErrorDetail>"
            data = (body + "</Error>").encode()
            headers["Content-Type"] = "application/xml"
        else:
            status, data = self._success(kind, headers)
        headers.setdefault("Content-Length", str(len(data)))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _success(self, kind: str, headers: dict[str, str]) -> tuple[int, bytes]:
        blob = {
            "ETag": '"0x8DD2B6F9C7F1A2B"',
            "Last-Modified": "Mon, 24 Nov 2026 20:00:00 GMT",
            "x-ms-blob-type": "BlockBlob",
            "x-ms-server-encrypted": "true",
            "Content-Type": "image/png",
        }
        if kind == "list":
            headers["Content-Type"] = "application/xml"
            return 200, LISTING.encode()
        if kind == "head":
            headers.update(blob)
            headers["Content-Length"] = "5"
            return 200, b""
        if kind == "get":
            headers.update(blob, **{"Content-Range": "bytes 0-0/5", "Accept-Ranges": "bytes"})
            return 206, b"\x89"
        headers["Content-Type"] = "application/xml"
        if kind == "delegation_key":
            return 200, DELEGATION_KEY_XML.encode()
        return 200, SERVICE_PROPERTIES.encode()

    do_GET = do_HEAD = do_POST = do_PUT = _answer


@pytest.fixture(scope="module")
def fake_azure_server(azurite_tls: TlsFiles) -> Iterator[FakeAzure]:
    fake = FakeAzure(port=0)
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(azurite_tls.cert, azurite_tls.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_azure(
    fake_azure_server: FakeAzure, azurite_tls: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> FakeAzure:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_tls.cert))
    fake_azure_server.answers.clear()
    fake_azure_server.seen.clear()
    return fake_azure_server


def config(fake: FakeAzure) -> AzureConfig:
    return AzureConfig(account_url=fake.account_url, tenant_id=TENANT)


def verify(fake: FakeAzure, **settings: Any) -> dict[str, Any]:
    provider = AzureProvider()
    location = provider.parse(f"az://{ACCOUNT}/scans/x/")
    context = azure_context(azure_settings(**settings))
    checks = provider.verify(config(fake), location=location, context=context)
    return {check.name: check for check in checks}


def store(fake: FakeAzure) -> Any:
    provider = AzureProvider()
    location = provider.parse(f"az://{ACCOUNT}/scans/")
    return provider.open(config(fake), location=location, context=azure_context(azure_settings()))


def role_command(role: str) -> str:
    return (
        f'az role assignment create --assignee {CLIENT_ID} --role "{role}" --scope '
        f"/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}"
    )


def test_delegator_missing_says_assign_it_at_the_account_not_the_container(
    fake_azure: FakeAzure,
) -> None:
    fake_azure.answers["delegation_key"] = PERMISSION_MISMATCH
    fake_azure.answers["service_properties"] = PERMISSION_MISMATCH
    checks = verify(fake_azure)
    key = checks[DELEGATION_KEY]
    assert not key.ok and "AuthorizationPermissionMismatch" in key.detail
    assert role_command("Storage Blob Delegator") in key.fix
    assert "storage account level, not the container level" in key.fix
    # Data access works, so those checks pass; only what needs the key is blocked.
    assert checks["list prefix"].ok and checks["head object"].ok and checks["ranged read"].ok
    assert checks["signed URL"].detail == f"skipped: needs '{DELEGATION_KEY}' to pass first"
    cors = checks["bucket CORS"]
    assert not cors.ok and "az storage cors list" in cors.fix
    assert "delegation_key" in fake_azure.seen


def test_data_reader_missing_names_the_role_on_list_head_and_read(fake_azure: FakeAzure) -> None:
    for kind in ("list", "head", "get"):
        fake_azure.answers[kind] = PERMISSION_MISMATCH
    checks = verify(fake_azure)
    assert checks[DELEGATION_KEY].ok  # the key is an account-level grant of its own
    assert checks["signed URL"].detail == "skipped: needs 'list prefix' to pass first"
    listing = checks["list prefix"]
    assert not listing.ok and role_command("Storage Blob Data Reader") in listing.fix
    opened = store(fake_azure)
    for call in (lambda: opened.head("x/a.png"), lambda: opened.get_range("x/a.png", 0, 1)):
        with pytest.raises(AccessDenied) as caught:
            call()
        assert "AuthorizationPermissionMismatch" in caught.value.detail
        assert role_command("Storage Blob Data Reader") in (caught.value.fix or "")


def test_authorization_failure_also_points_at_the_firewall(fake_azure: FakeAzure) -> None:
    fake_azure.answers["list"] = AUTHORIZATION_FAILURE
    with pytest.raises(AccessDenied) as caught:
        next(iter(store(fake_azure).list_pages("x/")))
    assert "Storage Blob Data Reader" in (caught.value.fix or "")
    assert "firewall" in (caught.value.fix or "")


def test_a_token_from_another_tenant_says_to_check_the_accounts_tenant(
    fake_azure: FakeAzure,
) -> None:
    fake_azure.answers["head"] = WRONG_TENANT
    fake_azure.answers["get"] = WRONG_TENANT
    with pytest.raises(AccessDenied) as caught:
        store(fake_azure).get_range("x/a.png", 0, 1)
    assert "InvalidAuthenticationInfo" in caught.value.detail
    assert f"belongs to tenant {TENANT}" in (caught.value.fix or "")


@pytest.mark.parametrize(
    ("answer", "error", "fix_part"),
    [
        (BLOB_NOT_FOUND, ObjectNotFound, "az storage blob show"),
        (CONTAINER_NOT_FOUND, ContainerNotFound, "az storage container list"),
        (CPK, KeyAccessDenied, "customer-provided key"),
    ],
    ids=["blob", "container", "customer-provided-key"],
)
def test_storage_error_codes_map_to_insitu_errors(
    fake_azure: FakeAzure, answer: tuple[int, str, str], error: type[Exception], fix_part: str
) -> None:
    fake_azure.answers["get"] = answer
    with pytest.raises(error) as caught:
        store(fake_azure).get_range("x/a.png", 0, 1)
    assert fix_part in (caught.value.fix or "")  # type: ignore[attr-defined]


def test_head_errors_without_a_body_are_mapped_from_the_header(fake_azure: FakeAzure) -> None:
    fake_azure.answers["head"] = BLOB_NOT_FOUND
    with pytest.raises(ObjectNotFound) as caught:
        store(fake_azure).head("x/gone.png")
    assert "az://contosodata/scans/x/gone.png" in (caught.value.fix or "")


# --- Entra ID token errors, from azure-identity's real credential -----------------------------


AADSTS = {
    "consent": (
        400,
        "unauthorized_client",
        "AADSTS700016: Application with identifier '00000000-0000-0000-0000-00000000c1d0' was "
        f"not found in the directory '{TENANT}'. This can happen if the application has not "
        "been installed by the administrator of the tenant or consented to by any user in the "
        "tenant.",
        [700016],
    ),
    "secret": (
        401,
        "invalid_client",
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
        "request is the client secret value, not the client secret ID.",
        [7000215],
    ),
}


@pytest.fixture
def fake_entra(azurite_tls: TlsFiles, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """An Entra ID authority: OpenID metadata, and a token endpoint answering ``state['error']``."""
    state: dict[str, Any] = {"error": "consent"}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            base = f"https://127.0.0.1:{port}/{TENANT}"
            self._json(
                200,
                {
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "issuer": f"{base}/v2.0",
                },
            )

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, error, description, codes = AADSTS[state["error"]]
            self._json(
                status,
                {
                    "error": error,
                    "error_description": description,
                    "error_codes": codes,
                    "timestamp": "2026-11-24 21:00:00Z",
                    "trace_id": "0b5a0c5e-0000-0000-0000-000000000000",
                    "correlation_id": "8a2c4f0e-0000-0000-0000-000000000000",
                },
            )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(azurite_tls.cert, azurite_tls.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_tls.cert))
    state["authority"] = f"https://127.0.0.1:{port}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("error", "fix_part"),
    [("consent", "GET /v1/azure/connect"), ("secret", "INSITU_AZURE_CLIENT_SECRET")],
)
def test_entra_sign_in_errors_say_what_to_do(
    fake_entra: dict[str, Any], error: str, fix_part: str
) -> None:
    fake_entra["error"] = error
    provider = AzureProvider()
    location = provider.parse(f"az://{ACCOUNT}/scans/x/")
    settings = azure_settings(
        azure_credential_factory=None,
        azure_client_secret="not-the-secret",
        azure_authority_host=fake_entra["authority"],
    )
    account = AzureConfig(account_url=f"https://{ACCOUNT}.blob.core.windows.net", tenant_id=TENANT)
    # The host is Azure's, but this machine resolves no public name: allowed by name instead.
    context = azure_context(settings, private_endpoints=(f"{ACCOUNT}.blob.core.windows.net",))
    checks = provider.verify(account, location=location, context=context)
    token = checks[0]
    assert token.name == TOKEN and not token.ok
    assert AADSTS[error][2][:12] in token.detail
    assert fix_part in (token.fix or "")
    assert all(check.detail.startswith("skipped") for check in checks[1:])
