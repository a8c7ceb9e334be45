"""Import tasks, run by whichever job backend is configured."""

from __future__ import annotations

from functools import partial

from insitu.config import get_settings
from insitu.imports.batches import BATCH_TASK, run_batch
from insitu.imports.lister import LIST_TASK, run_lister
from insitu.jobs import follow_up, task


@task(LIST_TASK)
def run(job_id: str, token: str | None = None) -> None:
    settings = get_settings()
    follow_up.list_aside(partial(run_lister, job_id, settings=settings, token=token))


@task(BATCH_TASK)
def batch(batch_id: str) -> None:
    run_batch(batch_id, settings=get_settings(), hand_off=True)
