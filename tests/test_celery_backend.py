"""Imports through the distributed backend: a real Redis broker and a real worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from insitu import jobs
from insitu.config import Settings
from tests.conftest import OPERATOR, Org
from tests.fixtures.processes import free_port
from tests.images import png

INSITU = str(Path(sys.executable).with_name("insitu"))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_import_queued_by_the_api_runs_on_a_celery_worker(
    settings: Settings, org: Org, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from insitu.api.app import create_app
    from insitu.jobs.celery_backend import CeleryBackend
    from insitu.jobs.celery_backend import app as celery_app

    for index in range(30):
        (data_root / f"{index}.png").write_bytes(png(index + 1, 1))
    queue = f"insitu-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("INSITU_JOB_BACKEND", "celery")
    monkeypatch.setenv("INSITU_CELERY_QUEUE", queue)
    celery_app.conf.task_default_queue = queue
    previous = jobs.set_backend(CeleryBackend())
    worker = subprocess.Popen(
        [INSITU, "worker", "--concurrency", "1"],
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with TestClient(create_app(settings)) as client:
            client.headers.update(org.headers)
            connection = client.post(
                "/v1/connections",
                json={"provider": "local", "settings": {"root": str(data_root)}},
                headers=OPERATOR,
            ).json()
            project = client.post("/v1/projects", json={"name": "p"}).json()
            job = client.post(
                f"/v1/projects/{project['id']}/imports",
                json={"source": f"file://{data_root}/", "connection_id": connection["id"]},
            ).json()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                state = client.get(f"/v1/imports/{job['id']}").json()
                if state["status"] in ("succeeded", "failed"):
                    break
                time.sleep(0.2)
        assert state["status"] == "succeeded", state
        assert state["counts"]["imported"] == 30
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        jobs.set_backend(previous)


def test_an_import_the_broker_does_not_take_is_kept_once_and_the_error_says_not_to_repeat_it(
    settings: Settings, org: Org, data_root: Path
) -> None:
    from celery import Celery

    from insitu.api.app import create_app
    from insitu.jobs.celery_backend import CeleryBackend

    (data_root / "a.png").write_bytes(png(1, 1))
    nowhere = Celery("insitu", broker=f"redis://127.0.0.1:{free_port()}/0")  # Redis is down
    previous = jobs.set_backend(CeleryBackend(nowhere))
    try:
        with TestClient(create_app(settings)) as client:
            client.headers.update(org.headers)
            connection = client.post(
                "/v1/connections",
                json={"provider": "local", "settings": {"root": str(data_root)}},
                headers=OPERATOR,
            ).json()
            project = client.post("/v1/projects", json={"name": "p"}).json()
            refused = client.post(
                f"/v1/projects/{project['id']}/imports",
                json={"source": f"file://{data_root}/", "connection_id": connection["id"]},
            )
            kept = client.get(f"/v1/projects/{project['id']}/imports").json()["items"]
    finally:
        jobs.set_backend(previous)
    assert refused.status_code == 503, refused.text
    body = refused.json()
    assert body["error"] == "queue_unreachable"
    assert [(job["source"], job["status"]) for job in kept] == [(f"file://{data_root}/", "queued")]
    assert "the change was saved" in body["detail"]
    assert f"imports.run job_id={kept[0]['id']}" in body["detail"]
    assert "INSITU_CELERY_BROKER_URL" in body["fix"] and "Do not repeat" in body["fix"]


@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["worker"]])
def test_celery_workers_with_a_sqlite_file_are_refused_saying_what_to_set(
    tmp_path: Path, command: list[str]
) -> None:
    env = {
        **os.environ,
        "INSITU_JOB_BACKEND": "celery",
        "INSITU_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "COLUMNS": "200",
    }
    result = subprocess.run([INSITU, *command], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "SQLite file" in result.stderr and "postgresql://" in result.stderr
    assert not (tmp_path / "x.db").exists()  # refused before anything was written


@pytest.mark.parametrize(
    "command",
    [
        ["serve", "--port", "1"],
        ["worker"],
        ["db", "upgrade"],
        ["import", "s3://b/p/", "--project", "p"],
    ],
)
def test_commands_on_a_database_that_does_not_exist_say_so_and_what_to_do(
    command: list[str],
) -> None:
    missing = f"insitu_missing_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "INSITU_JOB_BACKEND": "celery",
        "INSITU_DATABASE_URL": f"postgresql://postgres:hush@127.0.0.1:5432/{missing}",
        "COLUMNS": "200",
    }
    result = subprocess.run([INSITU, *command], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Error: cannot reach the database" in result.stderr, result.stderr
    assert f'database "{missing}" does not exist' in result.stderr
    assert "create the database" in result.stderr
    assert "hush" not in result.stderr  # the password is not printed
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_worker_refuses_a_database_without_the_schema_saying_how_to_make_it(
    database_url: str,
) -> None:
    env = {
        **os.environ,
        "INSITU_JOB_BACKEND": "celery",
        "INSITU_DATABASE_URL": database_url,  # created, never upgraded
        "COLUMNS": "200",
    }
    refused = subprocess.run(
        [INSITU, "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "the database has no insitu schema yet" in refused.stderr
    assert "insitu db upgrade" in refused.stderr
