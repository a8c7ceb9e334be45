"""A Verify access that waits on a slow cloud holds up no one else's page.

A real uvicorn server: the test client runs one request at a time, so only a live server
shows whether one portal request blocks the event loop for every other.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from insitu.connections import service as connections
from tests.api.test_local_provider import connect
from tests.conftest import Org
from tests.images import png

SLOW_SECONDS = 3.0


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def test_a_slow_verify_does_not_stall_other_requests(
    api: TestClient,
    org: Org,
    portal_url: str,
    data_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (data_root / "cat.png").write_bytes(png(8, 6))
    connection = connect(api, data_root)
    project = api.post("/v1/projects", json={"name": "scans"}).json()
    real_verify = connections.verify

    def slow_verify(*args: Any, **kwargs: Any) -> Any:
        time.sleep(SLOW_SECONDS)  # a customer's cloud taking its time to answer
        return real_verify(*args, **kwargs)

    monkeypatch.setattr(connections, "verify", slow_verify)

    with httpx.Client(base_url=portal_url, timeout=30) as browser:
        token = _csrf(browser.get("/sign-in").text)
        signed_in = browser.post("/sign-in", data={"api_key": org.key, "csrf_token": token})
        assert signed_in.status_code == 303, signed_in.text
        token = _csrf(browser.get("/projects").text)
        verified: dict[str, httpx.Response] = {}

        def verify() -> None:
            verified["response"] = browser.post(
                f"/projects/{project['id']}/imports/new/verify",
                data={
                    "csrf_token": token,
                    "connection_id": connection["id"],
                    "source": f"file://{data_root}/",
                },
            )

        thread = threading.Thread(target=verify)
        thread.start()
        time.sleep(0.5)  # the verify is now waiting on the cloud
        with httpx.Client(base_url=portal_url, timeout=30) as someone_else:
            started = time.monotonic()
            page = someone_else.get("/sign-in")
            waited = time.monotonic() - started
        thread.join()

    assert page.status_code == 200
    assert waited < SLOW_SECONDS / 2, f"the sign-in page took {waited:.1f}s behind a verify"
    assert verified["response"].status_code == 200, verified["response"].text
    assert re.search(r"All \d+ checks passed", verified["response"].text), verified["response"].text
