"""``kill -9`` mid-import, then a restart: the import finishes by itself, once per file.

Real processes throughout: ``insitu serve`` (inline backend, SQLite) or ``insitu worker``
(Celery on Redis, PostgreSQL), fakes3 as the S3 bucket (with some latency, so an import of a
few thousand objects takes seconds and can be killed part-way). Nobody resumes the import:
the restarted process's sweep must take up the lister and the batches whose leases lapsed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import func, select

from insitu.assets.models import Asset
from insitu.config import Settings, get_settings
from insitu.db import session_scope
from insitu.organizations import service as organizations
from tests.conftest import OPERATOR
from tests.fixtures.fakes3 import FakeS3
from tests.fixtures.moto import TEST_CREDENTIALS
from tests.fixtures.processes import ServerProcess, free_port, start_server

INSITU = str(Path(sys.executable).with_name("insitu"))
OBJECTS = 3000


@pytest.fixture
def fakes3() -> Iterator[FakeS3]:
    server = FakeS3(OBJECTS, 10)
    yield server
    server.stop()


@pytest.fixture
def env(settings: Settings, fakes3: FakeS3, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment every insitu process of the test shares: short leases and sweeps,
    few probes at once (so the import lasts a few seconds), fakes3 as insitu's S3."""
    for name, value in {
        "AWS_ENDPOINT_URL": fakes3.endpoint,
        "INSITU_IMPORT_BATCH_SIZE": "200",
        "INSITU_IMPORT_CONCURRENCY": "8",
        "INSITU_IMPORT_LEASE_SECONDS": "3",
        "INSITU_IMPORT_SWEEP_SECONDS": "0.5",
        **TEST_CREDENTIALS,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return {**os.environ}


def admin_headers() -> dict[str, str]:
    with session_scope() as session:
        _org, key = organizations.create(session, name="restart", settings=get_settings())
    return {"Authorization": f"Bearer {key}"}


def serve(env: dict[str, str], port: int) -> ServerProcess:
    return start_server(
        [INSITU, "serve", "--port", str(port)], f"http://127.0.0.1:{port}/healthz",
        env=env, timeout=60,
    )  # fmt: skip


def start_import(base: str, headers: dict[str, str]) -> str:
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        connection = client.post(
            "/v1/connections",
            json={"provider": "s3", "settings": {}},
            headers=OPERATOR,
        )
        assert connection.status_code == 201, connection.text
        project = client.post("/v1/projects", json={"name": "restart"}).json()
        job = client.post(
            f"/v1/projects/{project['id']}/imports",
            json={"source": "s3://bench/images/", "connection_id": connection.json()["id"]},
        )
        assert job.status_code in (201, 202), job.text
        return str(job.json()["id"])


def state(base: str, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/v1/imports/{job_id}", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def part_way(base: str, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    """The import once some files are in and it is not finished (fails if it never is)."""
    deadline = time.monotonic() + 60
    while True:
        job = state(base, headers, job_id)
        assert job["status"] in ("queued", "running"), job
        if job["counts"]["imported"] > 0:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def finished(base: str, headers: dict[str, str], job_id: str, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        job = state(base, headers, job_id)
        if job["status"] not in ("queued", "running"):
            return job
        assert time.monotonic() < deadline, f"not finished within {within} s: {job}"
        time.sleep(0.25)


def assets_of(job: dict[str, Any]) -> tuple[int, int]:
    """(assets, distinct locations) of the import's project, straight from the database."""
    with session_scope() as session:
        where = Asset.project_id == job["project_id"]
        assets = session.scalar(select(func.count()).select_from(Asset).where(where)) or 0
        distinct = session.scalar(select(func.count(func.distinct(Asset.location))).where(where))
    return assets, distinct or 0


def kill(process: subprocess.Popen[Any]) -> None:
    """``kill -9`` of the process and everything it started (its own process group)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def assert_finished_once_per_file(job: dict[str, Any]) -> None:
    assert job["status"] == "succeeded", job
    assert job["counts"] == {
        "listed": OBJECTS,
        "imported": OBJECTS,
        "already_present": 0,
        "failed": 0,
    }, job
    assert assets_of(job) == (OBJECTS, OBJECTS)


def test_serve_killed_mid_import_and_restarted_finishes_it_by_itself(
    env: dict[str, str],
) -> None:
    headers = admin_headers()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = serve(env, port)
    try:
        job_id = start_import(base, headers)
        midway = part_way(base, headers, job_id)
        kill(server.process)
        assert 0 < midway["counts"]["imported"] < OBJECTS
        server = serve(env, port)
        restarted = time.monotonic()
        job = finished(base, headers, job_id, within=60)
    finally:
        server.stop(timeout=30)
    assert_finished_once_per_file(job)
    assert time.monotonic() - restarted < 60


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_celery_worker_killed_mid_import_and_replaced_finishes_it_by_itself(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = f"insitu-test-{uuid.uuid4().hex[:8]}"
    env = {**env, "INSITU_JOB_BACKEND": "celery", "INSITU_CELERY_QUEUE": queue}
    headers = admin_headers()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = serve(env, port)
    workers: list[subprocess.Popen[bytes]] = []

    def worker() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [INSITU, "worker", "--concurrency", "2"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        workers.append(process)
        return process

    try:
        doomed = worker()
        job_id = start_import(base, headers)
        midway = part_way(base, headers, job_id)
        kill(doomed)
        assert 0 < midway["counts"]["imported"] < OBJECTS
        worker()
        restarted = time.monotonic()
        job = finished(base, headers, job_id, within=60)
        assert time.monotonic() - restarted < 60
    finally:
        for process in workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    kill(process)
        server.stop(timeout=30)
        redis.Redis.from_url(get_settings().celery_broker_url).delete(queue)
    assert_finished_once_per_file(job)
