"""Watched projects follow their bucket through S3 event notifications (moto S3 -> real SQS).

The bucket's notification configuration and the queue policy are the documents insitu
generates; moto delivers ``s3:TestEvent`` then ``ObjectCreated:Put``/``Copy`` and
``ObjectRemoved:Delete`` records with URL-encoded keys, as S3 does. moto sends no
``sequencer``, so the tests that need one add it to copies of real messages, as S3 writes it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from insitu.config import Settings
from insitu.db import get_engine, session_scope, utcnow
from insitu.jobs.inline import InlineBackend
from insitu.storage.base import EventBatch
from insitu.watch.apply import Applied
from insitu.watch.consumer import Consumer
from insitu.watch.models import EventSequencer
from insitu.watch.supervisor import EventSupervisor
from tests.api.test_asset_removal import by_location
from tests.api.test_s3_end_to_end import run
from tests.fixtures.moto import TEST_CREDENTIALS
from tests.images import png
from tests.webhooks.receiver import receiver
from tests.webhooks.test_webhooks import deliveries, register

DEADLINE = 10.0  # seconds: "within seconds"


@pytest.fixture
def sqs(aws_env: str) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=aws_env,
        region_name="us-east-1",
        aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture
def queue_url(sqs: Any) -> str:
    # A short visibility timeout: a message received but not deleted comes back in 2 s.
    return str(
        sqs.create_queue(QueueName="insitu-events", Attributes={"VisibilityTimeout": "2"})[
            "QueueUrl"
        ]
    )


@pytest.fixture
def watched(
    api: TestClient,
    worker: InlineBackend,
    s3_client: Any,
    s3_bucket: str,
    sqs: Any,
    queue_url: str,
) -> dict[str, Any]:
    """A project that imported s3://bucket/scans/ through a connection with an event queue,
    the bucket's notifications set up from insitu's documents, and the watch on."""
    connection = api.post(
        "/v1/connections",
        json={"provider": "s3", "settings": {"events": {"sqs_queue_url": queue_url}}},
    )
    assert connection.status_code == 201, connection.text
    project = api.post("/v1/projects", json={"name": "scans"}).json()
    s3 = {"connection": connection.json()["id"], "project": project["id"]}
    for n in range(2):
        s3_client.put_object(Bucket=s3_bucket, Key=f"scans/{n}.png", Body=png(3 + n, 2))
    s3_client.put_object(Bucket=s3_bucket, Key="other/x.png", Body=png(9, 9))
    job = run(api, worker, s3, source=f"s3://{s3_bucket}/scans/")
    assert job["counts"]["imported"] == 2, job

    setup = api.get(
        f"/v1/connections/{s3['connection']}/events/setup",
        params={"source": f"s3://{s3_bucket}/scans/"},
    )
    assert setup.status_code == 200, setup.text
    documents = {doc["name"]: doc for doc in setup.json()["documents"]}
    sqs.set_queue_attributes(
        QueueUrl=queue_url, Attributes={"Policy": json.dumps(documents["queue policy"]["document"])}
    )
    s3_client.put_bucket_notification_configuration(
        Bucket=s3_bucket, NotificationConfiguration=documents["bucket notifications"]["document"]
    )
    started = api.post(f"/v1/projects/{s3['project']}/watch")
    assert started.status_code == 200, started.text
    assert started.json()["watching"] is True
    return {
        **s3,
        "bucket": s3_bucket,
        "queue": queue_url,
        "authorization": api.headers["Authorization"],
    }


def consumer(settings: Settings, watched: dict[str, Any], **kwargs: Any) -> Consumer:
    return Consumer(watched["connection"], settings=settings, wait_seconds=1, **kwargs)


@pytest.fixture
def running(settings: Settings, watched: dict[str, Any]) -> Iterator[Consumer]:
    """A consumer long-polling in the background, as ``insitu serve`` runs one."""
    stop = threading.Event()
    live = consumer(settings, watched)
    thread = threading.Thread(target=live.run, kwargs={"stop": stop}, daemon=True)
    thread.start()
    yield live
    stop.set()
    thread.join(timeout=10)
    live.close()


def eventually(check: Callable[[], bool], what: str) -> float:
    """Seconds until ``check()`` holds, failing after DEADLINE."""
    start = time.monotonic()
    while time.monotonic() - start < DEADLINE:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not within {DEADLINE}s: {what}")


def drain(live: Consumer, *, rounds: int = 3) -> Applied:
    """Receive until the queue has been empty ``rounds`` times in a row; the sum applied."""
    total, empty = Applied(), 0
    while empty < rounds:
        applied = live.step(wait_seconds=0)
        assert applied is not None
        if applied.events == 0:
            empty += 1
            time.sleep(0.1)
            continue
        empty = 0
        for name, value in applied.__dict__.items():
            setattr(total, name, getattr(total, name) + value)
    return total


def history(api: TestClient, asset_id: str) -> list[tuple[str, str]]:
    detail = api.get(f"/v1/assets/{asset_id}").json()
    return [(event["event"], event["by"]) for event in detail["history"]]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_put_overwrite_copy_and_delete_reach_the_assets_within_seconds(
    api: TestClient, s3_client: Any, watched: dict[str, Any], running: Consumer
) -> None:
    project, bucket = watched["project"], watched["bucket"]
    root = f"s3://{bucket}/scans/"
    before = by_location(api, project)

    s3_client.put_object(Bucket=bucket, Key="scans/new.png", Body=png(31, 7))
    eventually(lambda: root + "new.png" in by_location(api, project), "a new file imported")
    new = by_location(api, project)[root + "new.png"]
    assert (new["status"], new["width"], new["height"]) == ("active", 31, 7)

    s3_client.put_object(Bucket=bucket, Key="scans/0.png", Body=png(40, 30))
    eventually(lambda: by_location(api, project)[root + "0.png"]["width"] == 40, "re-probed")
    changed = by_location(api, project)[root + "0.png"]
    assert changed["id"] == before[root + "0.png"]["id"] and changed["status"] == "active"

    s3_client.copy_object(
        Bucket=bucket, Key="scans/copy.png", CopySource={"Bucket": bucket, "Key": "scans/1.png"}
    )
    eventually(lambda: root + "copy.png" in by_location(api, project), "a copy imported")

    s3_client.delete_object(Bucket=bucket, Key="scans/1.png")
    eventually(lambda: by_location(api, project)[root + "1.png"]["status"] == "removed", "removed")
    gone = by_location(api, project)[root + "1.png"]
    assert (gone["removal_reason"], gone["removed_by"]) == ("moved_or_deleted", "event")

    s3_client.put_object(Bucket=bucket, Key="other/y.png", Body=png(5, 5))  # not watched
    assets = by_location(api, project)
    assert sorted(assets) == [root + name for name in ("0.png", "1.png", "copy.png", "new.png")]
    assert {loc: a["status"] for loc, a in assets.items()} == {
        root + "0.png": "active",
        root + "1.png": "removed",
        root + "copy.png": "active",
        root + "new.png": "active",
    }
    changes = history(api, changed["id"])
    assert [event for event, _ in changes] == ["created", "changed"]
    assert changes[-1][1] == "event"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_new_file_counts_on_its_prefix_import_and_a_refused_one_is_among_its_failures(
    api: TestClient, s3_client: Any, settings: Settings, watched: dict[str, Any]
) -> None:
    live = consumer(settings, watched)
    drain(live)
    bucket = watched["bucket"]
    s3_client.put_object(Bucket=bucket, Key="scans/fine.png", Body=png(6, 6))
    s3_client.put_object(Bucket=bucket, Key="scans/broken.png", Body=b"\x89PNG not really")
    drain(live)
    imports = api.get(f"/v1/projects/{watched['project']}/imports").json()["items"]
    assert len(imports) == 1
    job = api.get(f"/v1/imports/{imports[0]['id']}").json()
    assert (job["counts"]["imported"], job["counts"]["failed"]) == (3, 1)
    failures = api.get(f"/v1/imports/{imports[0]['id']}/failures").json()["items"]
    assert [f["location"] for f in failures] == [f"s3://{bucket}/scans/broken.png"]
    assert failures[0]["fix"]
    live.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_keys_with_slashes_plus_signs_spaces_and_percents_are_decoded_exactly(
    api: TestClient, s3_client: Any, settings: Settings, watched: dict[str, Any]
) -> None:
    live = consumer(settings, watched)
    drain(live)
    bucket = watched["bucket"]
    keys = ["scans/a b+c.png", "scans/100%/x%2Fy.png", "scans/sub dir/é ü.png"]
    for n, key in enumerate(keys):
        s3_client.put_object(Bucket=bucket, Key=key, Body=png(10 + n, 3))
    drain(live)
    assets = by_location(api, watched["project"])
    for n, key in enumerate(keys):
        asset = assets[f"s3://{bucket}/{key}"]
        assert (asset["key"], asset["width"], asset["status"]) == (key, 10 + n, "active")
    assert len(assets) == 2 + len(keys)
    live.close()


def _messages(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message now on the queue, left there (received, then made visible again)."""
    found: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30
        ).get("Messages", [])
        if not got:
            break
        found += got
    for message in found:
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return found


def _state(api: TestClient, project: str) -> dict[str, tuple[Any, ...]]:
    return {
        location: (
            a["id"],
            a["status"],
            a["removal_reason"],
            a["etag"],
            a["width"],
            len(api.get(f"/v1/assets/{a['id']}").json()["history"]),
        )
        for location, a in by_location(api, project).items()
    }


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_duplicated_and_a_reordered_event_change_nothing(
    api: TestClient,
    s3_client: Any,
    sqs: Any,
    settings: Settings,
    watched: dict[str, Any],
) -> None:
    live = consumer(settings, watched)
    drain(live)
    bucket, queue = watched["bucket"], watched["queue"]
    s3_client.put_object(Bucket=bucket, Key="scans/v.png", Body=png(11, 1))
    s3_client.put_object(Bucket=bucket, Key="scans/v.png", Body=png(12, 1))
    s3_client.delete_object(Bucket=bucket, Key="scans/0.png")
    recorded = [m["Body"] for m in _messages(sqs, queue)]
    assert len(recorded) == 3
    drain(live)
    settled = _state(api, watched["project"])
    assert settled[f"s3://{bucket}/scans/v.png"][4] == 12
    assert settled[f"s3://{bucket}/scans/0.png"][1:3] == ("removed", "moved_or_deleted")

    # The same messages again (as SQS redelivers), then in reverse order: the first put
    # after the second, the delete last but one.
    for body in recorded + recorded[::-1]:
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    applied = drain(live)
    assert applied.events == 6 and applied.total() == 0
    assert _state(api, watched["project"]) == settled
    live.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_event_whose_sequencer_is_not_newer_is_skipped_without_a_request(
    api: TestClient, s3_client: Any, sqs: Any, settings: Settings, watched: dict[str, Any]
) -> None:
    live = consumer(settings, watched)
    drain(live)
    bucket, queue = watched["bucket"], watched["queue"]
    s3_client.put_object(Bucket=bucket, Key="scans/s.png", Body=png(13, 1))
    (put,) = [json.loads(m["Body"]) for m in _messages(sqs, queue)]
    _purge(sqs, queue)

    def with_sequencer(document: dict[str, Any], sequencer: str) -> str:
        document["Records"][0]["s3"]["object"]["sequencer"] = sequencer
        return json.dumps(document)

    # S3's sequencers grow with each event of a key; a shorter one is a smaller number.
    sqs.send_message(QueueUrl=queue, MessageBody=with_sequencer(put, "1000"))
    first = drain(live)
    assert first.added == 1 and first.requests > 0
    # The same one again; one sorting after it as text but smaller as a number; a smaller one.
    for older in ("1000", "FFF", "00000FFE"):
        sqs.send_message(QueueUrl=queue, MessageBody=with_sequencer(put, older))
    again = drain(live)
    assert (again.events, again.skipped, again.requests, again.total()) == (3, 3, 0, 0)
    with session_scope() as session:
        kept = session.query(EventSequencer).one()
        assert (kept.key, kept.sequencer.lstrip("0")) == ("scans/s.png", "1000")
    live.close()


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_sequencer_is_forgotten_once_no_event_of_its_key_can_arrive(
    settings: Settings, watched: dict[str, Any]
) -> None:
    """SQS keeps a message 14 days at most: a key's sequencer is kept a day longer."""
    with session_scope() as session:
        for key, age in (("scans/old.png", 16), ("scans/recent.png", 13)):
            session.add(
                EventSequencer(
                    connection_id=watched["connection"],
                    bucket=watched["bucket"],
                    key=key,
                    sequencer="0055AED6DCD90281E5",
                    updated_at=utcnow() - timedelta(days=age),
                )
            )

    EventSupervisor(get_engine(), settings=settings).check()  # what each server does hourly

    with session_scope() as session:
        kept = session.scalars(select(EventSequencer.key)).all()
    assert kept == ["scans/recent.png"]


def _purge(sqs: Any, queue: str) -> None:
    while got := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        for message in got:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


class Killed(Exception):
    """Stands for the process dying between the commit and the acknowledgement."""


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_consumer_killed_between_commit_and_acknowledgement_loses_and_doubles_nothing(
    api: TestClient, s3_client: Any, sqs: Any, settings: Settings, watched: dict[str, Any]
) -> None:
    drain(consumer(settings, watched))
    bucket = watched["bucket"]
    for n in range(4):
        s3_client.put_object(Bucket=bucket, Key=f"scans/k{n}.png", Body=png(20 + n, 2))
    s3_client.delete_object(Bucket=bucket, Key="scans/1.png")

    def die(batch: EventBatch, applied: Applied) -> None:
        raise Killed

    doomed = consumer(settings, watched, after_commit=die)
    with pytest.raises(Killed):
        doomed.step(wait_seconds=1)
    committed = _state(api, watched["project"])
    assert sum(1 for state in committed.values() if state[1] == "active") >= 2  # it applied

    # Its messages come back after the visibility timeout (2 s); the lease it held lapses.
    time.sleep(2.2)
    survivor = consumer(settings, watched)
    drain(survivor)
    final = _state(api, watched["project"])
    root = f"s3://{bucket}/scans/"
    assert sorted(final) == sorted(
        [root + f"{n}.png" for n in range(2)] + [root + f"k{n}.png" for n in range(4)]
    )
    for n in range(4):
        asset_id, status, _, _, width, events = final[root + f"k{n}.png"]
        assert (status, width, events) == ("active", 20 + n, 1)  # one "created", not two
        assert history(api, asset_id) == [("created", "event")]
    assert final[root + "1.png"][1:3] == ("removed", "moved_or_deleted")
    assert final[root + "1.png"][5] == 2  # created, removed: once
    assert _messages(sqs, watched["queue"]) == []
    survivor.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_consumer_killed_before_its_commit_loses_nothing(
    api: TestClient, s3_client: Any, settings: Settings, watched: dict[str, Any]
) -> None:
    drain(consumer(settings, watched))
    bucket = watched["bucket"]
    s3_client.put_object(Bucket=bucket, Key="scans/late.png", Body=png(17, 2))
    doomed = consumer(settings, watched)

    def die(*_: object) -> Any:
        raise Killed

    doomed.applier._commit = die  # type: ignore[method-assign]
    with pytest.raises(Killed):
        doomed.step(wait_seconds=1)
    assert f"s3://{bucket}/scans/late.png" not in by_location(api, watched["project"])
    time.sleep(2.2)
    drain(consumer(settings, watched))
    assert by_location(api, watched["project"])[f"s3://{bucket}/scans/late.png"]["width"] == 17


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_file_moved_within_the_watched_prefix_keeps_its_asset(
    api: TestClient, s3_client: Any, settings: Settings, watched: dict[str, Any]
) -> None:
    live = consumer(settings, watched)
    drain(live)
    bucket, root = watched["bucket"], f"s3://{watched['bucket']}/scans/"
    before = by_location(api, watched["project"])[root + "0.png"]
    # What `aws s3 mv` does: copy, then delete; both events arrive in one batch.
    s3_client.copy_object(
        Bucket=bucket, Key="scans/moved/0.png", CopySource={"Bucket": bucket, "Key": "scans/0.png"}
    )
    s3_client.delete_object(Bucket=bucket, Key="scans/0.png")
    time.sleep(0.2)
    applied = drain(live)
    assert applied.moved == 1
    assets = by_location(api, watched["project"])
    assert root + "0.png" not in assets
    moved = assets[root + "moved/0.png"]
    assert (moved["id"], moved["status"]) == (before["id"], "active")
    live.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_file_deleted_and_put_back_sends_assets_removed_then_assets_restored(
    api: TestClient, s3_client: Any, settings: Settings, watched: dict[str, Any]
) -> None:
    live = consumer(settings, watched)
    drain(live)
    bucket, root = watched["bucket"], f"s3://{watched['bucket']}/scans/"
    asset = by_location(api, watched["project"])[root + "1.png"]
    body = s3_client.get_object(Bucket=bucket, Key="scans/1.png")["Body"].read()
    with receiver(200) as hook:
        webhook = register(api, hook.url, "assets.removed", "assets.restored")
        s3_client.delete_object(Bucket=bucket, Key="scans/1.png")
        drain(live)
        s3_client.put_object(Bucket=bucket, Key="scans/1.png", Body=body)
        drain(live)
        live.close()
        eventually(lambda: len(hook.requests) == 2, "both webhooks delivered")
    sent = [json.loads(received.body) for received in hook.requests]
    by_type = {event["type"]: event["data"] for event in sent}
    assert by_type["assets.removed"] | {"project_id": None} == {
        "project_id": None,
        "count": 1,
        "reasons": {"moved_or_deleted": 1},
        "asset_ids": [asset["id"]],
        "asset_ids_truncated": False,
        "by": "event",
    }
    assert by_type["assets.removed"]["project_id"] == watched["project"]
    assert by_type["assets.restored"]["asset_ids"] == [asset["id"]]
    assert by_type["assets.restored"]["by"] == "event"
    assert {d["status"] for d in deliveries(api, webhook["id"])} == {"delivered"}


def test_two_consumers_never_hold_one_queue(settings: Settings, watched: dict[str, Any]) -> None:
    first, second = consumer(settings, watched), consumer(settings, watched)
    stop = threading.Event()
    thread = threading.Thread(target=first.run, kwargs={"stop": stop}, daemon=True)
    thread.start()
    eventually(lambda: _held_by(first), "the first consumer holds the queue")
    assert second.run(seconds=1) is False
    stop.set()
    thread.join(timeout=10)
    assert second.run(seconds=0.5) is True  # released on stop: taken at once
    first.close()
    second.close()


def _held_by(live: Consumer) -> bool:
    from insitu.watch import lease

    with session_scope() as session:
        row = lease.get(session, queue=live.queue)
        return row is not None and row.holder == live.holder


def test_watching_a_project_on_a_provider_without_events_is_a_clear_422(
    api: TestClient, worker: InlineBackend, data_root: Any
) -> None:
    from tests.conftest import OPERATOR

    (data_root / "cats").mkdir()
    (data_root / "cats" / "a.png").write_bytes(png())
    connection = api.post(
        "/v1/connections",
        headers=OPERATOR,
        json={"provider": "local", "settings": {"root": str(data_root)}},
    ).json()
    project = api.post("/v1/projects", json={"name": "cats"}).json()
    job = run(
        api,
        worker,
        {"connection": connection["id"], "project": project["id"]},
        source=f"file://{data_root}/cats/",
    )
    assert job["counts"]["imported"] == 1
    response = api.post(f"/v1/projects/{project['id']}/watch")
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "events_unsupported"
    assert "local provider does not deliver storage events" in body["detail"]
    assert "reconcil" in body["fix"]
    assert api.get(f"/v1/projects/{project['id']}/watch").json()["watching"] is False


def test_watching_through_an_s3_connection_without_a_queue_says_what_to_set(
    api: TestClient, worker: InlineBackend, s3: dict[str, str], s3_bucket: str, s3_client: Any
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="p/a.png", Body=png())
    run(api, worker, s3, source=f"s3://{s3_bucket}/p/")
    response = api.post(f"/v1/projects/{s3['project']}/watch")
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "events_unsupported"
    assert "sqs_queue_url" in response.json()["fix"]
    setup = api.get(
        f"/v1/connections/{s3['connection']}/events/setup",
        params={"source": f"s3://{s3_bucket}/p/"},
    )
    assert setup.status_code == 422 and "sqs_queue_url" in setup.json()["fix"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/q.fifo", "FIFO"),
        ("https://sqs.eu-west-1.amazonaws.com/q", "path must be /ACCOUNT_ID/QUEUE_NAME"),
        ("ftp://sqs.eu-west-1.amazonaws.com/123456789012/q", "http(s) URL"),
        ("http://sqs.eu-west-1.amazonaws.com/123456789012/q", "https only"),
    ],
)
def test_a_bad_queue_url_is_refused_saying_why(api: TestClient, url: str, problem: str) -> None:
    response = api.post(
        "/v1/connections", json={"provider": "s3", "settings": {"events": {"sqs_queue_url": url}}}
    )
    assert response.status_code == 422, response.text
    assert problem in response.json()["detail"]


def test_a_queue_on_a_private_address_is_refused_unless_allowed(api: TestClient) -> None:
    response = api.post(
        "/v1/connections",
        json={
            "provider": "s3",
            "settings": {"events": {"sqs_queue_url": "http://10.1.2.3:9324/123456789012/q"}},
        },
    )
    assert response.status_code == 422, response.text
    assert "INSITU_PRIVATE_ENDPOINTS" in response.json()["fix"]


def _checks(api: TestClient, connection: str, source: str) -> dict[str, dict[str, Any]]:
    response = api.post(f"/v1/connections/{connection}/verify", json={"source": source})
    assert response.status_code == 200, response.text
    return {check["name"]: check for check in response.json()["checks"]}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_verify_checks_the_queue_and_that_the_bucket_notifies_it(
    api: TestClient, s3_client: Any, sqs: Any, watched: dict[str, Any]
) -> None:
    bucket, connection = watched["bucket"], watched["connection"]
    checks = _checks(api, connection, f"s3://{bucket}/scans/")
    assert checks["event queue"]["ok"] and "insitu-events" in checks["event queue"]["detail"]
    assert checks["bucket notifications"]["ok"], checks["bucket notifications"]
    # A prefix the notifications do not cover: the fix is the configuration for it.
    s3_client.put_object(Bucket=bucket, Key="other/z.png", Body=png())
    other = _checks(api, connection, f"s3://{bucket}/other/")["bucket notifications"]
    assert not other["ok"] and "does not send created and removed objects" in other["detail"]
    assert (
        '"Value": "other/"' in other["fix"]
        and "put-bucket-notification-configuration" in (other["fix"])
    )
    sqs.delete_queue(QueueUrl=watched["queue"])
    gone = _checks(api, connection, f"s3://{bucket}/scans/")
    assert not gone["event queue"]["ok"] and "sqs_queue_url" in gone["event queue"]["fix"]
    assert gone["bucket notifications"]["detail"].startswith("skipped")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_insitu_serve_starts_a_consumer_for_each_watched_queue(
    s3_client: Any, settings: Settings, watched: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from insitu.api.app import create_app

    fast = settings.model_copy(update={"events_check_seconds": 0.2, "events_wait_seconds": 1})
    bucket, root = watched["bucket"], f"s3://{watched['bucket']}/scans/"
    with TestClient(create_app(fast, consume_events=True)) as served:
        served.headers.update({"Authorization": api_key(watched)})
        s3_client.put_object(Bucket=bucket, Key="scans/served.png", Body=png(8, 8))
        eventually(
            lambda: root + "served.png" in by_location(served, watched["project"]), "imported"
        )
        status = served.get(f"/v1/projects/{watched['project']}/watch").json()
        assert status["watching"] and status["prefixes"][0]["consuming"] is True
        assert status["prefixes"][0]["events_applied"] >= 1
    stopped = TestClient(create_app(fast))
    stopped.headers.update({"Authorization": api_key(watched)})
    assert (
        stopped.get(f"/v1/projects/{watched['project']}/watch").json()["prefixes"][0]["consuming"]
        is False
    )  # released when the server stopped


def api_key(watched: dict[str, Any]) -> str:
    return str(watched["authorization"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_celery_task_consumes_then_hands_over_under_the_same_lease(
    s3_client: Any, settings: Settings, watched: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from insitu import jobs
    from insitu.watch import lease, tasks

    class Recorder:
        def __init__(self) -> None:
            self.sent: list[tuple[str, dict[str, Any]]] = []

        def send(self, name: str, args: dict[str, Any]) -> None:
            self.sent.append((name, args))

        def shutdown(self) -> None:
            pass

    monkeypatch.setenv("INSITU_EVENTS_TASK_SECONDS", "2")
    monkeypatch.setenv("INSITU_EVENTS_WAIT_SECONDS", "1")
    from insitu.config import get_settings

    get_settings.cache_clear()
    recorder = Recorder()
    previous = jobs.set_backend(recorder)
    try:
        s3_client.put_object(Bucket=watched["bucket"], Key="scans/task.png", Body=png(9, 4))
        tasks.consume(watched["connection"])
        ((name, args),) = recorder.sent
        assert name == "watch.consume" and args["connection_id"] == watched["connection"]
        with session_scope() as session:
            held = lease.get(session, queue=watched["queue"])
            assert held is not None and held.holder == args["holder"]  # still held for it
            assert not lease.take(
                session,
                queue=watched["queue"],
                connection_id="x",
                holder="someone-else",
                seconds=60,
            )
        tasks.consume(**args)  # the successor carries on under the same lease
        assert len(recorder.sent) == 2
    finally:
        jobs.set_backend(previous)
    root = f"s3://{watched['bucket']}/scans/"
    with session_scope() as session:
        from insitu.assets.models import Asset

        assert session.query(Asset).filter_by(location=root + "task.png").one().width == 9
