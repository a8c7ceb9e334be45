"""Celery backend: tasks go through a real broker to any number of worker processes.

Start workers with ``insitu worker`` (or ``celery -A insitu.jobs.celery_backend worker``).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from insitu.config import get_settings
from insitu.jobs import follow_up
from insitu.jobs.registry import run_task
from insitu.process import tune_garbage_collector

log = logging.getLogger(__name__)
app = Celery("insitu", broker=get_settings().celery_broker_url)
app.conf.update(
    task_default_queue=get_settings().celery_queue,
    task_acks_late=True,  # a worker that dies mid-task leaves it for another worker
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _prepare_pool_process(**_kwargs: Any) -> None:
    """A forked pool process must not use the database connections its parent opened. It
    runs one task at a time, so it lists on threads aside (``follow_up.list_aside``). Its
    garbage collector is tuned here too, for workers started by ``celery`` itself."""
    follow_up.lists_aside = True
    tune_garbage_collector()
    from insitu.db import get_engine

    if get_engine.cache_info().currsize:
        for engine in {get_engine(), get_engine(get_settings().database_url)}:
            engine.dispose(close=False)


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _finish_handed_off_work(**_kwargs: Any) -> None:
    """A pool process stopping (warm shutdown, max tasks) first writes what it handed off."""
    follow_up.drain()


@app.task(name="insitu.run")  # type: ignore[untyped-decorator]
def _run(name: str, args: dict[str, Any]) -> None:
    run_task(name, args)


class CeleryBackend:
    def __init__(self, celery: Celery = app) -> None:
        self.celery = celery

    def send(self, name: str, args: dict[str, Any]) -> None:
        self.celery.send_task("insitu.run", args=[name, args])

    def send_later(self, name: str, args: dict[str, Any], delay: float) -> None:
        self.celery.send_task("insitu.run", args=[name, args], countdown=delay)

    def waiting(self) -> int | None:
        try:
            with self.celery.connection_for_read() as connection:
                declared = connection.default_channel.queue_declare(
                    queue=get_settings().celery_queue, passive=True
                )
        except Exception:  # the broker is down or the queue not declared yet: unknown
            log.debug("cannot tell how many tasks wait in the queue", exc_info=True)
            return None
        return int(declared.message_count)

    def shutdown(self) -> None:
        pass
