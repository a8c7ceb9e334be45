"""Every list comes back newest first, in a stable order, across page boundaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insitu.jobs.inline import InlineBackend
from tests.conftest import OPERATOR
from tests.images import png


def pages(api: TestClient, url: str, *, limit: int, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of a keyset-paged list, following ``next``."""
    found, after = [], None
    while True:
        query = {"limit": limit, **params, **({"after": after} if after else {})}
        response = api.get(url, params=query)
        assert response.status_code == 200, response.text
        found.append(response.json()["items"])
        if not (after := response.json()["next"]):
            return found


def newest_first(rows: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(rows, key=lambda row: (row["created_at"], row["id"]), reverse=True)
    return [row["id"] for row in ordered]


@pytest.fixture
def folder(data_root: Path) -> Path:
    folder = data_root / "cats"
    folder.mkdir()
    for n in range(5):
        (folder / f"{n}.png").write_bytes(png(8 + n, 8))
    return folder


@pytest.fixture
def setup(api: TestClient, folder: Path) -> dict[str, str]:
    connection = api.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(folder)}},
        headers=OPERATOR,
    ).json()
    project = api.post("/v1/projects", json={"name": "cats"}).json()
    return {"connection": connection["id"], "project": project["id"], "source": f"file://{folder}/"}


def start(api: TestClient, worker: InlineBackend, setup: dict[str, str], **extra: Any) -> str:
    body = {"source": setup["source"], "connection_id": setup["connection"], **extra}
    response = api.post(f"/v1/projects/{setup['project']}/imports", json=body)
    assert response.status_code == 202, response.text
    worker.join()
    return str(response.json()["id"])


def test_projects_connections_and_keys_are_listed_newest_first(
    api: TestClient, data_root: Path
) -> None:
    projects = [api.post("/v1/projects", json={"name": f"p{n}"}).json()["id"] for n in range(3)]
    assert [p["id"] for p in api.get("/v1/projects").json()] == projects[::-1]
    connections = [
        api.post(
            "/v1/connections",
            json={"provider": "local", "settings": {"root": str(data_root)}},
            headers=OPERATOR,
        ).json()["id"]
        for _ in range(3)
    ]
    assert [c["id"] for c in api.get("/v1/connections").json()] == connections[::-1]
    keys = [
        api.post("/v1/api-keys", json={"name": f"k{n}", "scope": "labeler"}).json()["id"]
        for n in range(2)
    ]
    listed = [k["id"] for k in api.get("/v1/api-keys").json()]
    assert listed[:2] == keys[::-1] and len(listed) == 3  # then the org's first key


def test_imports_page_newest_first_across_a_page_boundary(
    api: TestClient, worker: InlineBackend, setup: dict[str, str]
) -> None:
    started = [start(api, worker, setup) for _ in range(3)]
    found = pages(api, f"/v1/projects/{setup['project']}/imports", limit=2)
    assert [len(page) for page in found] == [2, 1]
    assert [job["id"] for page in found for job in page] == started[::-1]


def test_assets_page_newest_first_across_a_page_boundary(
    api: TestClient, worker: InlineBackend, setup: dict[str, str], folder: Path
) -> None:
    start(api, worker, setup, source_files=["0.png", "1.png"])
    start(api, worker, setup, source_files=["2.png", "3.png", "4.png"])
    found = pages(api, f"/v1/projects/{setup['project']}/assets", limit=2)
    assert [len(page) for page in found] == [2, 2, 1]
    rows = [asset for page in found for asset in page]
    assert [asset["id"] for asset in rows] == newest_first(rows)
    # The second import's files come before the first one's.
    names = [asset["location"].rsplit("/", 1)[1] for asset in rows]
    assert set(names[:3]) == {"2.png", "3.png", "4.png"} and set(names[3:]) == {"0.png", "1.png"}
    everything = pages(api, f"/v1/projects/{setup['project']}/assets", limit=3, status="all")
    assert [a["id"] for page in everything for a in page] == [a["id"] for a in rows]


def test_import_failures_page_newest_first_across_a_page_boundary(
    api: TestClient, worker: InlineBackend, setup: dict[str, str]
) -> None:
    missing = [f"gone-{n}.png" for n in range(3)]
    job = start(api, worker, setup, source_files=missing)
    found = pages(api, f"/v1/imports/{job}/failures", limit=2)
    assert [len(page) for page in found] == [2, 1]
    rows = [failure for page in found for failure in page]
    assert [failure["id"] for failure in rows] == newest_first(rows)


def test_url_issues_page_newest_first_across_a_page_boundary(
    api: TestClient, worker: InlineBackend, setup: dict[str, str]
) -> None:
    start(api, worker, setup, source_files=["0.png"])
    [asset] = api.get(f"/v1/projects/{setup['project']}/assets").json()["items"]
    for _ in range(3):
        assert api.get(f"/v1/assets/{asset['id']}/url").status_code == 200
    found = pages(api, f"/v1/assets/{asset['id']}/url-issues", limit=2)
    assert [len(page) for page in found] == [2, 1]
    rows = [issue for page in found for issue in page]
    assert [issue["id"] for issue in rows] == newest_first(rows)
