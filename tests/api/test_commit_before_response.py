"""A success is only ever sent for a committed transaction (issue 10, finding 6).

The app runs in a real uvicorn server: the test client waits for the whole ASGI call, so it
cannot see a response that was sent before the request's commit ran.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event

from insitu.config import Settings
from insitu.jobs.inline import InlineBackend
from tests.api.live_server import serve
from tests.conftest import OPERATOR, Org


@pytest.fixture
def served(settings: Settings, worker: InlineBackend) -> Iterator[tuple[str, Engine]]:
    """insitu served by uvicorn in this process: its base URL and database engine."""
    from insitu.api.app import create_app

    app = create_app(settings)
    with serve(app) as base_url:
        yield base_url, app.state.engine


@pytest.fixture
def api(served: tuple[str, Engine], org: Org) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0], headers=org.headers, timeout=30) as client:
        yield client


@pytest.fixture
def engine(served: tuple[str, Engine]) -> Engine:
    return served[1]


def _on_commit(engine: Engine, action: Any) -> Any:
    def listener(_connection: Any) -> None:
        action()

    event.listen(engine, "commit", listener)
    return listener


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_created_project_is_found_at_once_even_when_the_commit_is_slow(
    api: httpx.Client, engine: Engine
) -> None:
    listener = _on_commit(engine, lambda: time.sleep(0.3))
    try:
        for attempt in range(3):
            created = api.post("/v1/projects", json={"name": f"scans {attempt}"})
            assert created.status_code == 201
            found = api.get(f"/v1/projects/{created.json()['id']}")
            assert found.status_code == 200, found.text
            assert found.json()["name"] == f"scans {attempt}"
    finally:
        event.remove(engine, "commit", listener)


def test_an_import_posted_right_after_its_projects_201_is_recorded(
    api: httpx.Client, engine: Engine, data_root: Any
) -> None:
    connection = api.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(data_root)}},
        headers=OPERATOR,
    ).json()
    listener = _on_commit(engine, lambda: time.sleep(0.3))
    try:
        project = api.post("/v1/projects", json={"name": "p"}).json()
        body = {"source": f"file://{data_root}/", "connection_id": connection["id"]}
        queued = api.post(f"/v1/projects/{project['id']}/imports", json=body)
        assert queued.status_code == 202, queued.text
        assert api.get(f"/v1/imports/{queued.json()['id']}").status_code == 200
    finally:
        event.remove(engine, "commit", listener)


def test_a_failed_commit_is_a_server_error_not_a_success(api: httpx.Client, engine: Engine) -> None:
    def refuse() -> None:
        raise RuntimeError("the database refused the commit")

    listener = _on_commit(engine, refuse)
    try:
        response = api.post("/v1/projects", json={"name": "never saved"})
    finally:
        event.remove(engine, "commit", listener)
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal_error"
    assert body["detail"] and body["fix"]
    # A server error closes its connection; ask again on a new one.
    with httpx.Client(base_url=str(api.base_url), headers=api.headers) as again:
        assert again.get("/v1/projects").json() == []
