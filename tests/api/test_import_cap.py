"""INSITU_MAX_RUNNING_IMPORTS_PER_ORG: an org's extra imports wait queued, then run."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insitu import jobs
from insitu.api.app import create_app
from insitu.config import Settings, get_settings
from insitu.connections import stores
from insitu.db import session_scope, utcnow
from insitu.imports import pipeline
from insitu.imports import service as imports
from insitu.imports.models import ImportJob
from insitu.imports.service import RUN_TASK
from insitu.jobs.inline import InlineBackend
from insitu.storage.base import Location
from tests.api.test_import_behaviour import PausedStore, queued_import, real_store
from tests.conftest import OPERATOR, Org
from tests.images import png

both_databases = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def two_workers(settings: Settings) -> Iterator[InlineBackend]:
    """The inline backend with two threads: enough to run two imports at once if allowed."""
    backend = InlineBackend(threads=2)
    previous = jobs.set_backend(backend)
    yield backend
    backend.shutdown()
    jobs.set_backend(previous)


@pytest.fixture
def capped_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The server's settings (its workers' too): one import at a time per org."""
    monkeypatch.setenv("INSITU_MAX_RUNNING_IMPORTS_PER_ORG", "1")
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def capped(
    capped_settings: Settings, two_workers: InlineBackend, org: Org, data_root: Path
) -> Iterator[TestClient]:
    """The API of a server whose orgs may run one import at a time."""
    for index in range(5):
        (data_root / f"img-{index}.png").write_bytes(png(index + 1, 2))
    with TestClient(create_app(capped_settings)) as c:
        c.headers.update(org.headers)
        yield c


@pytest.fixture
def setup(capped: TestClient, data_root: Path) -> dict[str, str]:
    connection = capped.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(data_root)}},
        headers=OPERATOR,
    ).json()
    project = capped.post("/v1/projects", json={"name": "p"}).json()
    return {
        "connection": connection["id"],
        "project": project["id"],
        "source": f"file://{data_root}/",
    }


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@both_databases
def test_with_a_cap_of_one_the_second_import_waits_queued_until_the_first_finishes(
    capped: TestClient,
    two_workers: InlineBackend,
    setup: dict[str, str],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real, _ = real_store(setup, settings)
    go_on = threading.Event()
    stores.clear()
    stores.get_or_open(  # a slow source: its listing waits until the test lets it go on
        setup["connection"],
        Location("local", "file", "", ""),
        lambda: PausedStore(real, go_on),  # type: ignore[arg-type, return-value]
    )

    def start() -> str:
        body = {"source": setup["source"], "connection_id": setup["connection"]}
        response = capped.post(f"/v1/projects/{setup['project']}/imports", json=body)
        assert response.status_code == 202, response.text
        job_id: str = response.json()["id"]
        return job_id

    def status(job_id: str) -> Any:
        return capped.get(f"/v1/imports/{job_id}").json()

    caplog.set_level(logging.INFO, logger="insitu.imports.lister")
    first = start()
    wait_for(lambda: status(first)["status"] == "running")
    second = start()
    # A worker took the second import and left it queued, saying why in its log.
    waits = f"import {second} stays queued: its org is at its cap of 1 running imports"
    wait_for(lambda: any(waits in record.getMessage() for record in caplog.records))
    assert status(first)["status"] == "running"
    assert status(second)["status"] == "queued" and status(second)["started_at"] is None

    go_on.set()
    two_workers.join()
    done_first, done_second = status(first), status(second)
    assert done_first["status"] == done_second["status"] == "succeeded"
    assert done_first["counts"]["imported"] == 5
    assert done_second["counts"]["already_present"] == 5
    assert done_second["started_at"] >= done_first["finished_at"]


def test_other_orgs_are_not_held_up_by_an_org_at_its_cap(
    settings: Settings, capped_settings: Settings, org: Org, other_org: Org, data_root: Path
) -> None:
    """A worker (Celery's too) that finds the org full leaves the job queued, and the run
    that frees the slot hands it on."""
    sent: list[tuple[str, dict[str, Any]]] = []

    class Recorder:
        def send(self, name: str, args: dict[str, Any]) -> None:
            sent.append((name, args))

        def shutdown(self) -> None:
            pass

    previous = jobs.set_backend(Recorder())
    try:
        (data_root / "a.png").write_bytes(png())
        with TestClient(create_app(capped_settings)) as api:
            setups = {who.id: _setup(api, who, data_root) for who in (org, other_org)}
        [running, waiting] = [queued_import(setups[org.id], settings) for _ in range(2)]
        theirs = queued_import(setups[other_org.id], settings)
        with session_scope() as session:
            assert imports.claim(session, running, max_running=1) is not None

        pipeline.run_import(waiting, settings=capped_settings)  # the org is full
        pipeline.run_import(theirs, settings=capped_settings)  # another org is not
        with TestClient(create_app(capped_settings)) as api:
            assert _status(api, org, waiting) == "queued"
            assert _status(api, other_org, theirs) == "succeeded"
            assert sent == []

            with session_scope() as session:  # its first worker died; another takes it over
                job = session.get_one(ImportJob, running)
                job.heartbeat_at = utcnow() - timedelta(hours=1)
            pipeline.run_import(running, settings=capped_settings)
            assert _status(api, org, running) == "succeeded"
            assert sent == [(RUN_TASK, {"job_id": waiting})]  # handed on to the waiting one
            pipeline.run_import(waiting, settings=capped_settings)
            assert _status(api, org, waiting) == "succeeded"
    finally:
        jobs.set_backend(previous)


def _setup(api: TestClient, who: Org, data_root: Path) -> dict[str, str]:
    connection = api.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(data_root)}},
        headers={**who.headers, **OPERATOR},
    ).json()
    project = api.post("/v1/projects", json={"name": "p"}, headers=who.headers).json()
    return {
        "connection": connection["id"],
        "project": project["id"],
        "source": f"file://{data_root}/",
    }


def _status(api: TestClient, who: Org, job_id: str) -> str:
    status: str = api.get(f"/v1/imports/{job_id}", headers=who.headers).json()["status"]
    return status
