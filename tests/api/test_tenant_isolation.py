"""A second organization sees nothing of the first: every ID answers 404, never 403."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from insitu.jobs.inline import InlineBackend
from tests.conftest import OPERATOR, Org
from tests.images import png


def test_another_org_gets_404_on_everything_of_the_first(
    client: TestClient, org: Org, other_org: Org, worker: InlineBackend, data_root: Path
) -> None:
    (data_root / "x.png").write_bytes(png())
    mine = org.headers
    connection = client.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(data_root)}},
        headers={**mine, **OPERATOR},
    ).json()
    project = client.post("/v1/projects", json={"name": "p"}, headers=mine).json()
    job = client.post(
        f"/v1/projects/{project['id']}/imports",
        json={"source": f"file://{data_root}/", "connection_id": connection["id"]},
        headers=mine,
    ).json()
    worker.join()
    asset = client.get(f"/v1/projects/{project['id']}/assets", headers=mine).json()["items"][0]

    theirs = other_org.headers
    for method, path, body in [
        ("GET", f"/v1/connections/{connection['id']}", None),
        ("DELETE", f"/v1/connections/{connection['id']}", None),
        ("POST", f"/v1/connections/{connection['id']}/verify", {"source": f"file://{data_root}/"}),
        ("GET", f"/v1/projects/{project['id']}", None),
        ("GET", f"/v1/projects/{project['id']}/assets", None),
        ("GET", f"/v1/projects/{project['id']}/imports", None),
        (
            "POST",
            f"/v1/projects/{project['id']}/imports",
            {"source": f"file://{data_root}/", "connection_id": connection["id"]},
        ),
        ("GET", f"/v1/imports/{job['id']}", None),
        ("GET", f"/v1/imports/{job['id']}/failures", None),
        ("POST", f"/v1/imports/{job['id']}/cancel", None),
        ("GET", f"/v1/assets/{asset['id']}", None),
        ("GET", f"/v1/assets/{asset['id']}/url", None),
        ("GET", f"/v1/assets/{asset['id']}/url-issues", None),
    ]:
        response = client.request(method, path, json=body, headers=theirs)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"] == "not_found"

    assert client.get("/v1/connections", headers=theirs).json() == []
    assert client.get("/v1/projects", headers=theirs).json() == []
    # The first org's things are untouched by the attempts.
    assert client.get(f"/v1/connections/{connection['id']}", headers=mine).status_code == 200


def test_importing_into_my_project_through_their_connection_is_404(
    client: TestClient, org: Org, other_org: Org, data_root: Path
) -> None:
    theirs = client.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(data_root)}},
        headers={**other_org.headers, **OPERATOR},
    ).json()
    project = client.post("/v1/projects", json={"name": "p"}, headers=org.headers).json()
    response = client.post(
        f"/v1/projects/{project['id']}/imports",
        json={"source": f"file://{data_root}/", "connection_id": theirs["id"]},
        headers=org.headers,
    )
    assert response.status_code == 404
