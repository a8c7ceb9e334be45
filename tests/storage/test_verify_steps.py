"""The verify steps every provider shares: what they catch, and where a signed URL may lead.

The store is a real LocalStore whose signed URLs point wherever the test serves them (its
``base_url``): a redirect trap, or a server answering an error with a body.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from insitu.security import Signer
from insitu.storage import verify
from insitu.storage.local import LocalStore
from tests.storage.azure_helpers import redirect_trap

SECRET_BODY = "<Error><Code>AccessDenied</Code><Internal>10.0.0.7 bucket-of-org-a</Internal>"


def local_store(tmp_path: Path, base_url: str) -> tuple[LocalStore, str]:
    (tmp_path / "a.png").write_bytes(b"\x89PNG")
    signer = Signer(["verify-steps-test-secret-key-0123456789"], "local-files")
    key = str(tmp_path / "a.png").lstrip("/")
    return LocalStore(tmp_path, signer, base_url, "conn1"), key


def test_a_signed_url_to_a_non_public_address_is_not_fetched(tmp_path: Path) -> None:
    with redirect_trap() as trap:
        store, key = local_store(tmp_path, trap.url)
        check, url = verify.fetch_signed_url(store, key, allowed=[])
    assert (check.ok, url) == (False, None)
    assert "was not fetched" in check.detail and "non-public address" in check.detail
    assert "INSITU_PRIVATE_ENDPOINTS" in (check.fix or "")
    assert trap.redirects == 0 and trap.hits == 0  # nothing was sent


def test_a_signed_url_that_redirects_is_reported_not_followed(tmp_path: Path) -> None:
    with redirect_trap() as trap:
        store, key = local_store(tmp_path, trap.url)
        check, url = verify.fetch_signed_url(store, key, allowed=["127.0.0.1"])
    assert (check.ok, url) == (False, None)
    assert "answered HTTP 307 Temporary Redirect" in check.detail
    assert "does not follow" in check.detail
    assert trap.redirects == 1 and trap.hits == 0


def test_a_signed_url_to_a_link_local_address_is_refused_even_when_allowed(
    tmp_path: Path,
) -> None:
    store, key = local_store(tmp_path, "http://169.254.169.254")
    check, _ = verify.fetch_signed_url(store, key, allowed=["169.254.169.254", "169.254.0.0/16"])
    assert not check.ok and "link-local" in check.detail


@contextmanager
def refusing_server() -> Iterator[str]:
    """Answers every GET with 403 and an error body naming internal things."""

    class Refuse(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            body = (SECRET_BODY * 20).encode()
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_refused_signed_url_is_a_status_line_not_the_response_body(tmp_path: Path) -> None:
    with refusing_server() as url:
        store, key = local_store(tmp_path, url)
        check, _ = verify.fetch_signed_url(store, key, allowed=["127.0.0.1"], fix="grant it")
    assert not check.ok
    assert check.detail == f"the signed URL for {key!r} answered HTTP 403 Forbidden"
    assert check.fix == "grant it"


def test_a_bug_in_a_store_is_raised_not_reported_as_a_failed_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, key = local_store(tmp_path, "http://127.0.0.1:9")

    def bug(*_args: object, **_kwargs: object) -> None:
        raise TypeError("a bug, not the bucket")

    # insitu's own errors are failed checks with their fix...
    check, _ = verify.head_sample(store, key + ".missing")
    assert not check.ok and check.fix
    # ...anything else is a bug: it propagates, to be a 500 with its traceback.
    for method in ("list_pages", "head", "get_range", "sign"):
        monkeypatch.setattr(store, method, bug)
    with pytest.raises(TypeError, match="a bug"):
        verify.list_sample(store, "")
    with pytest.raises(TypeError, match="a bug"):
        verify.head_sample(store, key)
    with pytest.raises(TypeError, match="a bug"):
        verify.read_first_byte(store, key)
    with pytest.raises(TypeError, match="a bug"):
        verify.fetch_signed_url(store, key, allowed=[])


def test_azure_cors_preflights_go_only_where_the_signed_url_may(tmp_path: Path) -> None:
    from insitu.storage.azure.checks import _check_cors_by_preflight

    portal = "http://portal.test:8080"
    with redirect_trap() as trap:
        check, _ = _check_cors_by_preflight(f"{trap.url}/c/a.png", [portal], "acct", "fix", [])
        assert not check.ok and "was not sent" in check.detail
        assert trap.redirects == 0
        allowed = ["127.0.0.1"]
        check, _ = _check_cors_by_preflight(f"{trap.url}/c/a.png", [portal], "acct", "fix", allowed)
        assert not check.ok and "refuses CORS preflights" in check.detail
        assert trap.redirects == 2 and trap.hits == 0  # GET and HEAD asked; neither followed
