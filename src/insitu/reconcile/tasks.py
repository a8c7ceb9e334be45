"""Reconcile tasks, run by whichever job backend is configured."""

from __future__ import annotations

from insitu.config import get_settings
from insitu.jobs import task
from insitu.reconcile.runner import run_reconcile
from insitu.reconcile.service import RUN_TASK


@task(RUN_TASK)
def run(job_id: str) -> None:
    run_reconcile(job_id, settings=get_settings())
