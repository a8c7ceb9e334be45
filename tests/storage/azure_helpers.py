"""What the Azure storage tests share: settings and contexts for a provider on Azurite."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from insitu.config import Settings
from insitu.storage.azure import TENANTS, AzureConfig
from insitu.storage.base import ProviderContext
from tests.fixtures.azurite import ACCOUNT, TENANT, Azurite, TlsFiles, unsigned_token_credential

PORTAL = "http://portal.test:8080"


def azure_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "portal_origins": [PORTAL],
        "azure_client_id": "00000000-0000-0000-0000-00000000c1d0",
        "azure_app_name": "insitu-test",
        "azure_credential_factory": unsigned_token_credential,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def azure_context(
    settings: Settings,
    tenants: tuple[str, ...] = (TENANT,),
    private_endpoints: tuple[str, ...] = ("127.0.0.1",),
) -> ProviderContext:
    """A context for org1, which connected ``tenants`` and may reach Azurite on loopback."""
    return ProviderContext(
        settings=settings,
        org_id="org1",
        connection_id="conn1",
        external_id="ext-org1",
        extra={TENANTS: lambda: list(tenants)},
        private_endpoints=private_endpoints,
    )


def config_for(server: Azurite, tenant_id: str = TENANT) -> AzureConfig:
    return AzureConfig(account_url=server.account_url, tenant_id=tenant_id)


@contextmanager
def trusting(server: Azurite) -> Iterator[None]:
    """Make the SDK (requests) and httpx trust the emulator's self-signed certificate."""
    with pytest.MonkeyPatch.context() as patch:
        if server.tls is not None:
            patch.setenv("REQUESTS_CA_BUNDLE", str(server.tls.cert))
            patch.setenv("SSL_CERT_FILE", str(server.tls.cert))
        yield


def sas_blob(url: str, container: str) -> str:
    """The blob a SAS URL grants, after checking it is a read-only, one-blob SAS."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert query.get("sp") == ["r"], f"permissions {query.get('sp')} are not read-only"
    assert query.get("sr") == ["b"], f"resource {query.get('sr')} is not one blob"
    assert query.get("skoid") and query.get("sktid"), "not a user-delegation SAS"
    assert query.get("sig") and query.get("se"), "unsigned or without expiry"
    prefix = f"/{ACCOUNT}/{container}/"
    assert parts.path.startswith(prefix), parts.path
    return unquote(parts.path[len(prefix) :])


@dataclass
class RedirectTrap:
    """A store on loopback that answers every request with a 307 to a second server.

    ``hits`` counts the requests the second server received: a client that follows
    redirects makes it non-zero. ``url`` is the redirecting server's base URL.
    """

    url: str
    target: str
    hits: int = 0
    redirects: int = 0


@contextmanager
def redirect_trap(tls: TlsFiles | None = None) -> Iterator[RedirectTrap]:
    """Run a redirecting server and its target on loopback ports (HTTPS when ``tls``)."""
    trap = RedirectTrap("", "")

    class Target(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _answer(self) -> None:
            trap.hits += 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(b"ok")

        do_GET = do_HEAD = do_POST = do_PUT = _answer  # noqa: N815

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _answer(self) -> None:
            trap.redirects += 1
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.send_response(307)
            self.send_header("Location", f"{trap.target}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD = do_POST = do_PUT = _answer  # noqa: N815

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), handler) for handler in (Redirect, Target)]
    scheme = "https" if tls else "http"
    for server in servers:
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert, tls.key)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    trap.url, trap.target = (f"{scheme}://127.0.0.1:{s.server_address[1]}" for s in servers)
    try:
        yield trap
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
