"""Webhooks as a receiver sees them: real HTTP to a server on loopback, signatures checked."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insitu.config import Settings
from insitu.jobs.inline import InlineBackend
from insitu.webhooks.delivery import deliver
from tests.api.test_local_provider import connect, run_import
from tests.api.test_reconcile import reconcile
from tests.images import png
from tests.webhooks.receiver import Received, receiver


def verify(secret: str, received: Received, tolerance: int = 300) -> dict[str, Any]:
    """What a receiver does (the README's snippet): check Insitu-Signature, then parse."""
    fields = dict(part.split("=", 1) for part in received.headers["Insitu-Signature"].split(","))
    timestamp = int(fields["t"])
    signed = f"{timestamp}.".encode() + received.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, fields["v1"]), "the signature does not match the body"
    assert abs(time.time() - timestamp) < tolerance, "the signature is too old"
    event: dict[str, Any] = json.loads(received.body)
    return event


def register(api: TestClient, url: str, *events: str) -> dict[str, Any]:
    response = api.post("/v1/webhooks", json={"url": url, "event_types": list(events)})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def deliveries(api: TestClient, webhook_id: str) -> list[dict[str, Any]]:
    response = api.get(f"/v1/webhooks/{webhook_id}/deliveries")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def images(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for n in range(count):
        (folder / f"{n}.png").write_bytes(png(4 + n, 3))


def test_a_finished_import_fires_one_signed_webhook_with_its_counts(
    api: TestClient, worker: InlineBackend, data_root: Path
) -> None:
    images(data_root / "cats", 3)
    (data_root / "cats" / "broken.png").write_bytes(b"not a png")
    with receiver(200) as hook:
        webhook = register(api, hook.url, "import.finished")
        connection = connect(api, data_root)
        job = run_import(
            api, worker, {"source": f"file://{data_root}/cats/", "connection_id": connection["id"]}
        )

    assert len(hook.requests) == 1
    received = hook.requests[0]
    event = verify(webhook["secret"], received)
    assert received.path == "/hooks/insitu"
    assert received.headers["Insitu-Event"] == event["type"] == "import.finished"
    assert event["data"]["import_id"] == job["id"]
    assert event["data"]["project_id"] == job["project_id"]
    assert event["data"]["connection_id"] == connection["id"]
    assert event["data"]["status"] == "succeeded"
    assert event["data"]["counts"] == {"listed": 4, "imported": 3, "already_present": 0,
                                       "failed": 1}  # fmt: skip
    [delivery] = deliveries(api, webhook["id"])
    assert received.headers["Insitu-Delivery"] == delivery["id"]
    assert delivery["status"] == "delivered" and delivery["payload"] == event
    assert [a["status_code"] for a in delivery["attempts"]] == [200]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_receiver_that_fails_at_first_gets_the_delivery_on_retry(
    settings: Settings, worker: InlineBackend, api: TestClient
) -> None:
    from insitu.api.app import create_app

    settings.webhook_retry_seconds = [0.2]
    settings.webhook_sweep_seconds = 0.1
    with (
        receiver(500, 503, 200) as hook,
        TestClient(create_app(settings, sweep_webhooks=True), headers=api.headers) as served,
    ):
        webhook = register(served, hook.url, "assets.removed")
        assert served.post(f"/v1/webhooks/{webhook['id']}/ping").status_code == 202
        deadline = time.monotonic() + 15
        while (item := deliveries(served, webhook["id"])[0])["status"] == "pending":
            assert time.monotonic() < deadline, item
            time.sleep(0.1)

    assert item["status"] == "delivered"
    assert [a["status_code"] for a in item["attempts"]] == [500, 503, 200]
    assert item["attempts"][0]["error"] == "answered HTTP 500, not 2xx"
    assert item["attempts"][2]["error"] is None
    assert len(hook.requests) == 3
    assert {r.headers["Insitu-Delivery"] for r in hook.requests} == {item["id"]}
    assert [r.headers["Insitu-Attempt"] for r in hook.requests] == ["1", "2", "3"]
    # Every attempt sends the same event, signed afresh.
    events = [verify(webhook["secret"], r) for r in hook.requests]
    assert events[0] == events[1] == events[2] == item["payload"]
    assert events[0]["type"] == "ping"


def test_a_reconcile_fires_assets_removed_and_reconcile_finished_with_counts(
    api: TestClient, worker: InlineBackend, data_root: Path
) -> None:
    folder = data_root / "scans"
    images(folder, 4)
    connection = connect(api, data_root)
    job = run_import(
        api, worker, {"source": f"file://{folder}/", "connection_id": connection["id"]}
    )
    project = job["project_id"]
    assets = {
        a["location"]: a["id"] for a in api.get(f"/v1/projects/{project}/assets").json()["items"]
    }
    (folder / "1.png").unlink()
    (folder / "2.png").unlink()

    with receiver(200) as hook:
        webhook = register(api, hook.url, "reconcile.finished", "assets.removed")
        done = reconcile(api, worker, project)
        events = {e["type"]: e for e in (verify(webhook["secret"], r) for r in hook.requests)}
        assert len(hook.requests) == 2

        removed = events["assets.removed"]["data"]
        assert removed["count"] == 2
        assert removed["reasons"] == {"moved_or_deleted": 2}
        assert sorted(removed["asset_ids"]) == sorted(
            [assets[f"file://{folder}/1.png"], assets[f"file://{folder}/2.png"]]
        )
        assert removed["asset_ids_truncated"] is False
        assert (removed["project_id"], removed["reconcile_id"]) == (project, done["id"])
        finished = events["reconcile.finished"]["data"]
        assert (finished["reconcile_id"], finished["status"]) == (done["id"], "succeeded")
        assert finished["counts"] == done["counts"]
        assert finished["counts"]["removed"] == 2 and finished["counts"]["unchanged"] == 2

        # Canceling data is one event too, whatever the number of assets.
        hook.requests.clear()
        response = api.post(
            f"/v1/projects/{project}/assets/remove", json={"prefix": f"file://{folder}/"}
        )
        assert response.json() == {"removed": 2}
        worker.join()
        [received] = hook.requests
        canceled = verify(webhook["secret"], received)
        assert canceled["type"] == "assets.removed"
        assert canceled["data"]["count"] == 2 and canceled["data"]["reasons"] == {"canceled": 2}
        assert canceled["data"]["prefix"] == f"file://{folder}/"
        assert sorted(canceled["data"]["asset_ids"]) == sorted(
            [assets[f"file://{folder}/0.png"], assets[f"file://{folder}/3.png"]]
        )


def test_an_endpoint_gets_only_the_events_it_subscribed_to(
    api: TestClient, worker: InlineBackend, data_root: Path
) -> None:
    images(data_root / "cats", 1)
    with receiver(200) as removed_only, receiver(200) as imports_only:
        register(api, removed_only.url, "assets.removed")
        register(api, imports_only.url, "import.finished")
        connection = connect(api, data_root)
        run_import(
            api, worker, {"source": f"file://{data_root}/cats/", "connection_id": connection["id"]}
        )
    assert removed_only.requests == []
    assert [r.headers["Insitu-Event"] for r in imports_only.requests] == ["import.finished"]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_senders_racing_for_a_due_delivery_send_it_once(
    api: TestClient, worker: InlineBackend, settings: Settings
) -> None:
    with receiver(500, 200) as hook:
        webhook = register(api, hook.url, "assets.removed")
        api.post(f"/v1/webhooks/{webhook['id']}/ping")
        worker.join()
        [first] = deliveries(api, webhook["id"])
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(lambda _: deliver(first["id"], settings=settings), range(6)))
    assert results.count("delivered") == 1 and results.count(None) == 5
    assert len(hook.requests) == 2
    [done] = deliveries(api, webhook["id"])
    assert [a["status_code"] for a in done["attempts"]] == [500, 200]
