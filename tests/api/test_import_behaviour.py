"""How imports treat re-runs, named files, vanished files and cancellation, on both databases."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insitu.config import Settings
from insitu.connections import service as connections
from insitu.connections import stores
from insitu.connections.models import Connection
from insitu.db import session_scope, utcnow
from insitu.imports import pipeline
from insitu.imports import service as imports
from insitu.imports.schemas import ImportCreate
from insitu.jobs.inline import InlineBackend
from insitu.organizations.models import Organization
from insitu.projects.models import Project
from insitu.storage.base import Location, ObjectStore, no_heads
from tests.conftest import OPERATOR
from tests.images import png

both_databases = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def folder(data_root: Path) -> Path:
    for index in range(25):
        (data_root / f"img-{index:03d}.png").write_bytes(png(index + 1, 2))
    return data_root


@pytest.fixture
def setup(api: TestClient, folder: Path) -> dict[str, str]:
    connection = api.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(folder)}},
        headers=OPERATOR,
    ).json()
    project = api.post("/v1/projects", json={"name": "p"}).json()
    return {"connection": connection["id"], "project": project["id"], "source": f"file://{folder}/"}


def start(api: TestClient, worker: InlineBackend, setup: dict[str, str], **extra: object) -> dict:  # type: ignore[type-arg]
    body = {"source": setup["source"], "connection_id": setup["connection"], **extra}
    job = api.post(f"/v1/projects/{setup['project']}/imports", json=body)
    assert job.status_code == 202, job.text
    worker.join()
    return api.get(f"/v1/imports/{job.json()['id']}").json()


@both_databases
def test_a_rerun_adds_nothing_and_counts_already_present(
    api: TestClient, worker: InlineBackend, setup: dict[str, str]
) -> None:
    first = start(api, worker, setup)
    assert first["counts"] == {"listed": 25, "imported": 25, "already_present": 0, "failed": 0}
    progress = first["progress"]
    assert (progress["done"], progress["total"], progress["fraction"]) == (25, 25, 1.0)
    assert progress["rate"] > 0  # files per second over the run
    assert first["batches"] == {"queued": 0, "running": 0, "done": 1, "given_up": 0}
    second = start(api, worker, setup)
    assert second["counts"] == {"listed": 25, "imported": 0, "already_present": 25, "failed": 0}
    assets = api.get(f"/v1/projects/{setup['project']}/assets", params={"limit": 1000}).json()
    assert len(assets["items"]) == 25


@both_databases
def test_source_files_import_only_those_and_record_a_missing_one(
    api: TestClient, worker: InlineBackend, setup: dict[str, str]
) -> None:
    job = start(
        api,
        worker,
        setup,
        source_files=["img-003.png", setup["source"] + "img-004.png", "not-there.png"],
    )
    assert job["status"] == "succeeded"
    assert job["counts"] == {"listed": 3, "imported": 2, "already_present": 0, "failed": 1}
    failures = api.get(f"/v1/imports/{job['id']}/failures").json()
    assert failures["next"] is None
    [failure] = failures["items"]
    assert failure["location"] == setup["source"] + "not-there.png"
    assert failure["code"] == "object_not_found"
    assert "does not exist" in failure["message"] and failure["fix"]


def test_source_files_outside_the_source_are_refused(
    api: TestClient, setup: dict[str, str]
) -> None:
    body = {
        "source": setup["source"],
        "connection_id": setup["connection"],
        "source_files": ["file:///etc/passwd"],
    }
    response = api.post(f"/v1/projects/{setup['project']}/imports", json=body)
    assert response.status_code == 422
    assert "not under the import source" in response.json()["detail"]


class WrappedStore:
    """The connection's real store; each subclass changes one behaviour of it."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.key_ranges = inner.key_ranges

    def list_pages(self, prefix: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.inner.list_pages(prefix, **kwargs)

    def head(self, key: str):  # type: ignore[no-untyped-def]
        return self.inner.head(key)

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self.inner.get_range(key, start, end)

    def read_heads(self, wants: Any) -> Future[dict[str, bytes]]:
        return no_heads()  # every read goes through get_range, which subclasses change

    def sign(self, key: str, *, ttl: timedelta):  # type: ignore[no-untyped-def]
        return self.inner.sign(key, ttl=ttl)

    def close(self) -> None:
        self.inner.close()


class VanishingStore(WrappedStore):
    """A file is deleted right after it is listed."""

    def __init__(self, inner: ObjectStore, victim: Path) -> None:
        super().__init__(inner)
        self.victim = victim

    def list_pages(self, prefix: str, **kwargs):  # type: ignore[no-untyped-def]
        for page in self.inner.list_pages(prefix, **kwargs):
            self.victim.unlink(missing_ok=True)
            yield page


class PausedStore(WrappedStore):
    """The listing waits until the test lets it go on."""

    def __init__(self, inner: ObjectStore, go_on: threading.Event) -> None:
        super().__init__(inner)
        self.go_on = go_on

    def list_pages(self, prefix: str, **kwargs):  # type: ignore[no-untyped-def]
        assert self.go_on.wait(30)
        yield from self.inner.list_pages(prefix, **kwargs)


def real_store(setup: dict[str, str], settings: Settings) -> tuple[ObjectStore, Location]:
    """The store the import of ``setup`` reads, and the source's location."""
    with session_scope() as session:
        connection = session.get_one(Connection, setup["connection"])
        org = session.get_one(Organization, connection.org_id)
        location = connections.location_for(connection, setup["source"])
        store = connections.open_store(connection, org=org, location=location, settings=settings)
    return store, location


def queued_import(setup: dict[str, str], settings: Settings) -> str:
    """An import of ``setup``'s source, recorded but not handed to any worker."""
    with session_scope() as session:
        project = session.get_one(Project, setup["project"])
        org = session.get_one(Organization, project.org_id)
        data = ImportCreate(source=setup["source"], connection_id=setup["connection"])
        job = imports.create(
            session, org=org, project=project, data=data, settings=settings, enqueue=False
        )
        return job.id


def test_a_file_deleted_between_listing_and_probing_is_a_recorded_failure(
    api: TestClient, worker: InlineBackend, setup: dict[str, str], folder: Path
) -> None:
    real, _ = real_store(setup, api.app.state.settings)  # type: ignore[attr-defined]
    stores.clear()
    stores.get_or_open(
        setup["connection"],
        Location("local", "file", "", ""),
        lambda: VanishingStore(real, folder / "img-007.png"),  # type: ignore[arg-type, return-value]
    )
    job = start(api, worker, setup)
    assert job["status"] == "succeeded"
    assert job["counts"]["imported"] == 24 and job["counts"]["failed"] == 1
    [failure] = api.get(f"/v1/imports/{job['id']}/failures").json()["items"]
    assert failure["location"].endswith("img-007.png")
    assert "moved or deleted during the import" in failure["message"]


def test_assets_page_with_a_cursor_and_filter_by_status(
    api: TestClient, worker: InlineBackend, setup: dict[str, str]
) -> None:
    start(api, worker, setup)
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 10, **({"after": after} if after else {})}
        page = api.get(f"/v1/projects/{setup['project']}/assets", params=params).json()
        seen += [asset["id"] for asset in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert len(seen) == len(set(seen)) == 25
    removed = api.get(f"/v1/projects/{setup['project']}/assets", params={"status": "removed"})
    assert removed.json()["items"] == []
    bad = api.get(f"/v1/projects/{setup['project']}/assets", params={"status": "gone"})
    assert bad.status_code == 422


def test_a_removed_asset_gets_no_url(
    api: TestClient, worker: InlineBackend, setup: dict[str, str]
) -> None:
    from insitu.assets.models import REMOVED, Asset

    start(api, worker, setup)
    asset = api.get(f"/v1/projects/{setup['project']}/assets").json()["items"][0]
    with session_scope() as session:
        row = session.get_one(Asset, asset["id"])
        row.status, row.removal_reason, row.removed_at = (
            REMOVED,
            "deleted from the bucket",
            utcnow(),
        )
    response = api.get(f"/v1/assets/{asset['id']}/url")
    assert response.status_code == 409
    assert "deleted from the bucket" in response.json()["detail"]


def test_a_canceled_import_never_runs_and_says_so(
    api: TestClient, setup: dict[str, str], settings: Settings
) -> None:
    job_id = queued_import(setup, settings)
    canceled = api.post(f"/v1/imports/{job_id}/cancel").json()
    assert canceled["status"] == "canceled" and canceled["finished_at"]
    pipeline.run_import(job_id, settings=settings)  # a worker picking it up late must not start it
    assert api.get(f"/v1/imports/{job_id}").json()["status"] == "canceled"
    assert api.get(f"/v1/projects/{setup['project']}/assets").json()["items"] == []


def test_a_single_file_source_imports_exactly_that_file(
    api: TestClient, worker: InlineBackend, setup: dict[str, str]
) -> None:
    job = start(api, worker, {**setup, "source": setup["source"] + "img-001.png"})
    assert job["counts"] == {"listed": 1, "imported": 1, "already_present": 0, "failed": 0}
    [asset] = api.get(f"/v1/projects/{setup['project']}/assets").json()["items"]
    assert asset["location"] == setup["source"] + "img-001.png"  # not img-0010.png and the like


def test_named_files_are_deduplicated_and_dot_segments_refused(
    api: TestClient, worker: InlineBackend, setup: dict[str, str]
) -> None:
    job = start(api, worker, setup, source_files=["img-002.png", "img-002.png"])
    assert job["counts"] == {"listed": 1, "imported": 1, "already_present": 0, "failed": 0}
    assert job["progress"]["fraction"] == 1.0
    for names in (["../img-002.png"], ["sub/./x.png"], []):
        body = {
            "source": setup["source"],
            "connection_id": setup["connection"],
            "source_files": names,
        }
        response = api.post(f"/v1/projects/{setup['project']}/imports", json=body)
        assert response.status_code == 422, names
        assert response.json()["fix"]


def test_a_projects_imports_are_listed_with_their_counts(
    api: TestClient, worker: InlineBackend, setup: dict[str, str]
) -> None:
    first, second = start(api, worker, setup), start(api, worker, setup)
    listed = api.get(f"/v1/projects/{setup['project']}/imports").json()
    by_id = {job["id"]: job for job in listed["items"]}
    assert set(by_id) == {first["id"], second["id"]} and listed["next"] is None
    assert by_id[second["id"]]["counts"]["already_present"] == 25
