"""Celery backend: tasks go through a real broker to any number of worker processes.

Start workers with ``insitu worker`` (or ``celery -A insitu.jobs.celery_backend worker``).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from insitu.config import get_settings
from insitu.jobs.registry import run_task

app = Celery("insitu", broker=get_settings().celery_broker_url)
app.conf.update(
    task_default_queue=get_settings().celery_queue,
    task_acks_late=True,  # a worker that dies mid-task leaves it for another worker
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
)


@app.task(name="insitu.run")  # type: ignore[untyped-decorator]
def _run(name: str, args: dict[str, Any]) -> None:
    run_task(name, args)


class CeleryBackend:
    def send(self, name: str, args: dict[str, Any]) -> None:
        app.send_task("insitu.run", args=[name, args])

    def shutdown(self) -> None:
        pass
