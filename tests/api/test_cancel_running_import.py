"""Canceling a running import with its assets: it stops, what it brought leaves, others stay."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient

from insitu.config import Settings
from insitu.connections import stores
from insitu.jobs.inline import InlineBackend
from insitu.storage.base import ListPage
from tests.api.test_import_behaviour import (  # noqa: F401  (fixtures)
    WrappedStore,
    folder,
    real_store,
    setup,
)


class SlowStore(WrappedStore):
    """Lists five files, then waits for the test before listing the rest."""

    def __init__(self, inner: Any, go_on: threading.Event) -> None:
        super().__init__(inner)
        self.go_on = go_on

    def list_pages(self, prefix: str, **kwargs: Any) -> Iterator[ListPage]:
        objects = [obj for page in self.inner.list_pages(prefix, **kwargs) for obj in page.objects]
        yield ListPage(objects[:5], objects[4].key)
        assert self.go_on.wait(30)
        yield ListPage(objects[5:], None)


def test_a_running_import_canceled_with_its_assets_stops_and_they_leave(
    api: TestClient,
    worker: InlineBackend,
    setup: dict[str, str],  # noqa: F811
    settings: Settings,
) -> None:
    project = setup["project"]
    other = api.post(
        f"/v1/projects/{project}/imports",
        json={**_body(setup), "source_files": ["img-020.png"]},
    )
    worker.join()
    assert api.get(f"/v1/imports/{other.json()['id']}").json()["counts"]["imported"] == 1

    store, location = real_store(setup, settings)
    go_on = threading.Event()
    stores.forget(setup["connection"])
    stores.get_or_open(setup["connection"], location, lambda: SlowStore(store, go_on))
    job = api.post(f"/v1/projects/{project}/imports", json=_body(setup)).json()
    deadline = time.monotonic() + 30
    while api.get(f"/v1/imports/{job['id']}").json()["counts"]["imported"] < 5:
        assert time.monotonic() < deadline, "the first page was never committed"
        time.sleep(0.05)

    canceled = api.post(f"/v1/imports/{job['id']}/cancel", json={"remove_assets": True})
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    assert canceled.json()["assets_removed"] == 5
    go_on.set()
    worker.join()

    finished = api.get(f"/v1/imports/{job['id']}").json()
    assert finished["status"] == "canceled" and finished["counts"]["imported"] == 5
    active = api.get(f"/v1/projects/{project}/assets", params={"limit": 100}).json()["items"]
    assert [item["key"].rsplit("/", 1)[-1] for item in active] == ["img-020.png"]
    removed = api.get(
        f"/v1/projects/{project}/assets", params={"status": "removed", "limit": 100}
    ).json()["items"]
    assert len(removed) == 5 and {item["removal_reason"] for item in removed} == {"canceled"}


def _body(prepared: dict[str, str]) -> dict[str, str]:
    return {"source": prepared["source"], "connection_id": prepared["connection"]}
