"""Background work, enqueued by name with JSON arguments after the database commit.

Domain code only calls :func:`enqueue` and declares tasks with :func:`task`; which backend
runs them (an in-process worker by default, Celery at scale) is configuration.
"""

from insitu.jobs.backend import enqueue, enqueue_in, get_backend, set_backend
from insitu.jobs.registry import run_task, task

__all__ = ["enqueue", "enqueue_in", "get_backend", "run_task", "set_backend", "task"]
