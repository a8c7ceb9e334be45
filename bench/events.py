"""How fast one consumer applies S3 storage events, and how soon a new file is in circulation.

Starts a moto server with a bucket whose notifications go to an SQS queue (the documents
insitu generates), imports a prefix into a watched project (SQLite), then:

- **throughput**: puts N small PNGs under the prefix, waits until all N notifications are on
  the queue, and times one consumer applying them (receive, HEAD, header probe, one commit
  per batch of up to ten messages, acknowledge): events applied per second, and the same
  without the time spent in moto's ReceiveMessage (slow: ~250 ms a call with 200 messages
  queued, where SQS answers in tens of milliseconds);
- **latency**: with a consumer long-polling, puts one PNG at a time and measures the time from
  the ``PutObject`` returning to the asset being ``active`` in the database: median and p99.

    .venv/bin/python bench/events.py [--events 500] [--samples 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.moto import TEST_CREDENTIALS, make_s3_client, seed, start_moto_server  # noqa: E402

from bench.import_throughput import configure, small_png  # noqa: E402

BUCKET = "bench-events"
PREFIX = "live/"


def set_up(endpoint: str, s3: Any, sqs: Any) -> tuple[str, str, str]:
    """(connection id, project id, queue URL) of a watched project that imported PREFIX."""
    from insitu.audit.service import Actor
    from insitu.config import get_settings
    from insitu.connections import service as connections
    from insitu.connections.schemas import ConnectionCreate
    from insitu.db import session_scope
    from insitu.imports import service as imports
    from insitu.imports.pipeline import run_import
    from insitu.imports.schemas import ImportCreate
    from insitu.migrate import upgrade
    from insitu.organizations import service as organizations
    from insitu.projects import service as projects
    from insitu.projects.schemas import ProjectCreate
    from insitu.watch import service as watches

    settings = get_settings()
    upgrade(settings.database_url)
    queue = sqs.create_queue(QueueName="insitu-bench")["QueueUrl"]
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}first.png", Body=small_png(0))
    with session_scope() as session:
        org, _ = organizations.create(session, name="bench", settings=settings)
        connection = connections.create(
            session,
            org=org,
            data=ConnectionCreate(provider="s3", settings={"events": {"sqs_queue_url": queue}}),
            settings=settings,
            operator=True,
        )
        project = projects.create(session, org=org, data=ProjectCreate(name="bench"))
        job = imports.create(
            session,
            org=org,
            project=project,
            data=ImportCreate(source=f"s3://{BUCKET}/{PREFIX}", connection_id=connection.id),
            settings=settings,
            enqueue=False,
        )
        ids = connection.id, project.id, job.id
    run_import(ids[2], settings=settings)
    with session_scope() as session:
        connection = connections.get_any(session, connection_id=ids[0])
        org = organizations.get(session, org_id=connection.org_id)
        documents = connections.events_setup(
            connection, org=org, sources=[f"s3://{BUCKET}/{PREFIX}"], settings=settings
        )
        project = projects.get_any(session, project_id=ids[1])
        watches.start(session, project=project, settings=settings, actor=Actor("bench"))
    setup = {document.name: document.document for document in documents}
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET, NotificationConfiguration=setup["bucket notifications"]
    )
    return ids[0], ids[1], queue


def waiting(sqs: Any, queue: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def throughput(connection_id: str, s3: Any, sqs: Any, queue: str, events: int) -> None:
    from insitu.config import get_settings
    from insitu.watch.consumer import Consumer

    consumer = Consumer(connection_id, settings=get_settings(), wait_seconds=1)
    while consumer.step(wait_seconds=0).events:  # type: ignore[union-attr]
        pass  # the test event and the first import's leftovers
    objects = {f"{PREFIX}t/{n:06d}.png": small_png(n) for n in range(events)}
    seed(s3, BUCKET, objects)
    deadline = time.monotonic() + 60
    while waiting(sqs, queue) < events and time.monotonic() < deadline:
        time.sleep(0.1)
    receiving = [0.0]
    receive = consumer.source.receive

    def timed_receive(**kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return receive(**kwargs)
        finally:
            receiving[0] += time.perf_counter() - started

    consumer.source.receive = timed_receive  # type: ignore[method-assign]
    applied, added, cpu, wall = 0, 0, time.process_time(), time.perf_counter()
    while applied < events:
        step = consumer.step(wait_seconds=1)
        assert step is not None, "a batch failed"
        applied, added = applied + step.events, added + step.added
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    consumer.close()
    assert added == events, (added, events)
    print(
        f"events applied by one consumer:    {events / wall:,.0f} events/s "
        f"({events} new files in {wall:.2f} s)"
    )
    rest = wall - receiving[0]
    print(
        f"  of which SQS ReceiveMessage:      {receiving[0]:.2f} s (moto's; the rest, HEAD, probe, "
        f"commit and delete, is {events / rest:,.0f} events/s)"
    )
    print(f"insitu CPU per event:              {cpu * 1000 / events:.2f} ms")


def latency(connection_id: str, project_id: str, s3: Any, samples: int) -> None:
    from sqlalchemy import select

    from insitu.assets.models import Asset
    from insitu.config import get_settings
    from insitu.db import session_scope
    from insitu.watch.consumer import Consumer

    consumer = Consumer(connection_id, settings=get_settings(), wait_seconds=20)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, kwargs={"stop": stop}, daemon=True)
    thread.start()
    times: list[float] = []
    try:
        for n in range(samples):
            key = f"{PREFIX}l/{n:06d}.png"
            location = f"s3://{BUCKET}/{key}"
            s3.put_object(Bucket=BUCKET, Key=key, Body=small_png(n))
            started = time.perf_counter()
            while True:
                with session_scope() as session:
                    status = session.scalar(
                        select(Asset.status).where(
                            Asset.project_id == project_id, Asset.location == location
                        )
                    )
                if status == "active":
                    break
                if time.perf_counter() - started > 30:
                    raise AssertionError(f"{location} not in circulation after 30 s")
                time.sleep(0.002)
            times.append(time.perf_counter() - started)
    finally:
        stop.set()
        thread.join(timeout=30)
        consumer.close()
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(
        f"PutObject -> in circulation:       median {statistics.median(times) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms ({samples} files, one at a time)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=500, help="files put for the throughput")
    parser.add_argument("--samples", type=int, default=100, help="files put one at a time")
    args = parser.parse_args()
    server = start_moto_server()
    try:
        os.environ.update(TEST_CREDENTIALS)
        os.environ["AWS_ENDPOINT_URL"] = server.endpoint
        s3 = make_s3_client(server.endpoint)
        s3.create_bucket(Bucket=BUCKET)
        import boto3

        sqs = boto3.client("sqs", endpoint_url=server.endpoint, region_name="us-east-1")
        with tempfile.TemporaryDirectory() as tmp:
            configure(Path(tmp) / "bench.db", INSITU_PRIVATE_ENDPOINTS="127.0.0.1")
            connection_id, project_id, queue = set_up(server.endpoint, s3, sqs)
            throughput(connection_id, s3, sqs, queue, args.events)
            latency(connection_id, project_id, s3, args.samples)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
