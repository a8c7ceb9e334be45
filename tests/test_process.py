"""The Python process settings every insitu process starts with."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from insitu.process import tune_garbage_collector


@pytest.fixture
def thresholds() -> Iterator[None]:
    kept = gc.get_threshold()
    yield
    gc.set_threshold(*kept)


@pytest.mark.usefixtures("thresholds")
def test_young_garbage_is_collected_less_often_than_pythons_default() -> None:
    gc.set_threshold(700, 10, 10)
    tune_garbage_collector()
    assert gc.get_threshold() == (10_000, 10, 10)


@pytest.mark.usefixtures("thresholds")
def test_a_higher_threshold_set_by_an_embedding_program_is_kept() -> None:
    gc.set_threshold(50_000, 5, 5)
    tune_garbage_collector()
    assert gc.get_threshold() == (50_000, 5, 5)


@pytest.mark.parametrize(
    "start",
    [
        # The ``insitu`` command: serve, worker, import and every other command.
        "import sys; sys.argv = ['insitu', '--help']\n"
        "from insitu.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass",
        # Each server process of ``insitu serve --workers N`` builds its app anew.
        "from insitu.api.app import serve_app; serve_app()",
        # A Celery pool process, also when ``celery`` itself started the worker.
        "from celery.signals import worker_process_init\n"
        "import insitu.jobs.celery_backend\n"
        "worker_process_init.send(sender=None)",
    ],
    ids=["cli", "serve-process", "celery-pool-process"],
)
def test_every_kind_of_insitu_process_starts_with_it(start: str, tmp_path: Path) -> None:
    script = f"{start}\nimport gc\nprint('young threshold', gc.get_threshold()[0])"
    env = {"INSITU_DATABASE_URL": f"sqlite:///{tmp_path}/insitu.db", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "young threshold 10000" in done.stdout
