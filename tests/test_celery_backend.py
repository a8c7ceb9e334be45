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

from insitu.config import Settings
from tests.conftest import OPERATOR, Org
from tests.fixtures.backends import broker_down, celery_queue, using
from tests.images import png

INSITU = str(Path(sys.executable).with_name("insitu"))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_import_queued_by_the_api_runs_on_a_celery_worker(
    settings: Settings, org: Org, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from insitu.api.app import create_app

    for index in range(30):
        (data_root / f"{index}.png").write_bytes(png(index + 1, 1))
    monkeypatch.setenv("INSITU_JOB_BACKEND", "celery")
    with celery_queue(monkeypatch):
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


def test_an_import_the_broker_does_not_take_is_kept_once_and_the_error_says_not_to_repeat_it(
    api: TestClient, data_root: Path
) -> None:
    (data_root / "a.png").write_bytes(png(1, 1))
    connection = api.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(data_root)}},
        headers=OPERATOR,
    ).json()
    project = api.post("/v1/projects", json={"name": "p"}).json()
    with using(broker_down()):
        refused = api.post(
            f"/v1/projects/{project['id']}/imports",
            json={"source": f"file://{data_root}/", "connection_id": connection["id"]},
        )
    kept = api.get(f"/v1/projects/{project['id']}/imports").json()["items"]
    assert refused.status_code == 503, refused.text
    body = refused.json()
    assert body["error"] == "queue_unreachable"
    assert [(job["source"], job["status"]) for job in kept] == [(f"file://{data_root}/", "queued")]
    assert "the change was saved" in body["detail"]
    assert f"imports.run job_id={kept[0]['id']}" in body["detail"]
    assert "INSITU_CELERY_BROKER_URL" in body["fix"] and "Do not repeat" in body["fix"]


def _insitu_with_celery(command: list[str], database_url: str) -> subprocess.CompletedProcess[str]:
    """``insitu COMMAND`` run as an operator would, on the Celery backend and ``database_url``."""
    env = {
        **os.environ,
        "INSITU_JOB_BACKEND": "celery",
        "INSITU_DATABASE_URL": database_url,
        "COLUMNS": "200",
    }
    return subprocess.run([INSITU, *command], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["worker"]])
def test_celery_workers_with_a_sqlite_file_are_refused_saying_what_to_set(
    tmp_path: Path, command: list[str]
) -> None:
    result = _insitu_with_celery(command, f"sqlite:///{tmp_path / 'x.db'}")
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
    result = _insitu_with_celery(command, f"postgresql://postgres:hush@127.0.0.1:5432/{missing}")
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
    refused = _insitu_with_celery(["worker"], database_url)  # created, never upgraded
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "the database has no insitu schema yet" in refused.stderr
    assert "insitu db upgrade" in refused.stderr
