"""Org B aims the newer routes (watches, event setup, connection health) at org A's ids."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from insitu.jobs.inline import InlineBackend
from tests.api.test_local_provider import connect
from tests.conftest import Org
from tests.images import png


def test_watches_events_setup_and_health_of_another_org_are_not_found(
    api: TestClient, worker: InlineBackend, other_org: Org, data_root: Path
) -> None:
    (data_root / "a.png").write_bytes(png(4, 3))
    connection = connect(api, data_root)
    project = api.post("/v1/projects", json={"name": "Secret scans"}).json()
    api.post(
        f"/v1/projects/{project['id']}/imports",
        json={"source": f"file://{data_root}/", "connection_id": connection["id"]},
    )
    worker.join()
    [asset] = api.get(f"/v1/projects/{project['id']}/assets").json()["items"]
    theirs = other_org.headers
    for method, path in [
        ("GET", f"/v1/projects/{project['id']}/watch"),
        ("POST", f"/v1/projects/{project['id']}/watch"),
        ("DELETE", f"/v1/projects/{project['id']}/watch"),
        ("GET", f"/v1/connections/{connection['id']}/events/setup?source=file://{data_root}/"),
        ("GET", f"/v1/connections/{connection['id']}"),
        ("POST", f"/v1/connections/{connection['id']}/verify"),
        ("GET", f"/v1/assets/{asset['id']}/url"),
        ("GET", f"/v1/projects/{project['id']}/circulation"),
    ]:
        response = api.request(
            method, path, headers=theirs, json={"source": f"file://{data_root}/"}
        )
        assert response.status_code == 404, (method, path, response.text)
        assert str(data_root) not in response.text and "Secret scans" not in response.text
    # B's own lists and settings cards show nothing of A's connection or its health.
    for path in ("/v1/connections", "/v1/organization/local"):
        assert connection["id"] not in api.get(path, headers=theirs).text
    # A's project is still unwatched.
    watch = api.get(f"/v1/projects/{project['id']}/watch").json()
    assert watch["watching"] is False and watch["prefixes"] == []
