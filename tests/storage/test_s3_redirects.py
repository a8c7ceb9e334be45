"""Attacks through a customer's S3 endpoint: redirects, redirect loops, DNS rebinding.

A hostile org names as endpoint_url a store on a host the operator allowed; that store answers
with redirects into insitu's own network, or loops, or its name resolves to loopback only
after insitu checked it. Tiny local HTTP servers play the store and the victim (which counts
every request that reaches it: it must see none).
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest

from insitu.errors import InvalidConfiguration, StorageError
from insitu.storage.base import ProviderContext
from insitu.storage.s3 import PROVIDER, S3Config, S3ObjectStore

KEYS = {"access_key_id": "AKIAORGOWNKEY0000001", "secret_access_key": "org-own-secret"}


@dataclass
class Server:
    """A local HTTP server answering every request with ``answer(path) -> (status, headers)``."""

    answer: Callable[[Server, str], tuple[int, dict[str, str]]]
    hits: list[str] = field(default_factory=list)
    httpd: http.server.ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.httpd is not None
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                server.hits.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, headers = server.answer(server, self.path)
                self.send_response(status)
                for name, value in {"Content-Length": "0", **headers}.items():
                    self.send_header(name, value)
                self.end_headers()

            do_GET = do_HEAD = do_PUT = do_POST = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()


@pytest.fixture
def victim() -> Iterator[Server]:
    """Something on insitu's own network: it answers 200 and counts who reached it."""
    server = Server(lambda _server, _path: (200, {})).start()
    yield server
    server.stop()


@pytest.fixture
def redirecting_store(victim: Server) -> Iterator[Server]:
    """An allowed store that redirects every request to the victim."""
    server = Server(
        lambda _server, path: (307, {"Location": f"{victim.url}{path}"}),
    ).start()
    yield server
    server.stop()


@pytest.fixture
def looping_store() -> Iterator[Server]:
    """An allowed store that redirects every request to itself."""
    server = Server(lambda self, path: (307, {"Location": f"{self.url}{path}"})).start()
    yield server
    server.stop()


def _open(store: Server, context: ProviderContext) -> S3ObjectStore:
    allowed = replace(context, private_endpoints=(f"127.0.0.1:{store.port}",))
    config = S3Config(endpoint_url=store.url, **KEYS)
    opened = PROVIDER.open(config, location=PROVIDER.parse("s3://bucket/"), context=allowed)
    assert isinstance(opened, S3ObjectStore)
    return opened


def _every_read(store: S3ObjectStore) -> list[Callable[[], object]]:
    return [
        lambda: next(iter(store.list_pages("images/"))),
        lambda: store.head("images/a.png"),
        lambda: store.get_range("images/a.png", 0, 16),  # a key obstore could address
        lambda: store.get_range("images//odd.png", 0, 16),  # one only boto3 addresses
    ]


def test_no_client_follows_a_redirect_to_another_host(
    redirecting_store: Server, victim: Server, context: ProviderContext
) -> None:
    store = _open(redirecting_store, context)
    for read in _every_read(store):
        with pytest.raises(StorageError) as failed:
            read()
        assert "answered with a redirect (307)" in failed.value.detail
        assert victim.url in failed.value.detail
        assert "endpoint_url" in (failed.value.fix or "")
    assert redirecting_store.hits  # insitu did talk to the store ...
    assert victim.hits == []  # ... and never to where it pointed


def test_a_redirect_loop_is_one_clear_error_after_one_request(
    looping_store: Server, context: ProviderContext
) -> None:
    store = _open(looping_store, context)
    for read in _every_read(store):
        looping_store.hits.clear()
        with pytest.raises(StorageError) as failed:
            read()
        assert "answered with a redirect (307)" in failed.value.detail
        assert len(looping_store.hits) == 1, looping_store.hits


def test_verify_through_a_redirecting_store_reaches_only_the_store(
    redirecting_store: Server, victim: Server, context: ProviderContext
) -> None:
    allowed = replace(context, private_endpoints=(f"127.0.0.1:{redirecting_store.port}",))
    config = S3Config(endpoint_url=redirecting_store.url, **KEYS)
    checks = PROVIDER.verify(config, location=PROVIDER.parse("s3://bucket/x/"), context=allowed)
    listing = next(check for check in checks if check.name == "list prefix")
    assert not listing.ok and "redirect (307)" in listing.detail
    assert victim.hits == []


@pytest.fixture
def rebinding_name(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``store.rebind.test`` resolves to a public address until the test rebinds it."""
    answer = {"address": "93.184.215.14"}
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "store.rebind.test":
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer["address"], int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answer


def test_a_name_rebound_to_loopback_after_the_check_is_refused_at_connect(
    rebinding_name: dict[str, str], victim: Server, context: ProviderContext
) -> None:
    config = S3Config(endpoint_url=f"http://store.rebind.test:{victim.port}", **KEYS)
    store = PROVIDER.open(config, location=PROVIDER.parse("s3://bucket/"), context=context)
    rebinding_name["address"] = "127.0.0.1"  # the attacker's DNS answers differently now
    assert isinstance(store, S3ObjectStore)
    for read in _every_read(store):
        with pytest.raises(InvalidConfiguration) as refused:
            read()
        assert "resolves to 127.0.0.1, a non-public address" in refused.value.detail
    assert victim.hits == []


def test_an_allowed_name_still_connects(
    rebinding_name: dict[str, str], victim: Server, context: ProviderContext
) -> None:
    # The guard refuses by address, not by being there: the operator's grant still holds.
    rebinding_name["address"] = "127.0.0.1"
    allowed = replace(context, private_endpoints=(f"store.rebind.test:{victim.port}",))
    config = S3Config(endpoint_url=f"http://store.rebind.test:{victim.port}", **KEYS)
    store = PROVIDER.open(config, location=PROVIDER.parse("s3://bucket/"), context=allowed)
    store.head("images/a.png")  # the victim answers 200 to anything
    assert victim.hits == ["HEAD /bucket/images/a.png"]


def test_signing_for_a_customer_endpoint_sends_nothing(
    victim: Server, context: ProviderContext
) -> None:
    store = _open(victim, context)
    signed = store.sign("images/a.png", ttl=timedelta(minutes=5))
    assert signed.url.startswith(f"{victim.url}/bucket/images/a.png?")
    assert "AKIAORGOWNKEY0000001" in signed.url
    assert victim.hits == []
