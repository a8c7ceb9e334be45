"""Import tasks, run by whichever job backend is configured."""

from __future__ import annotations

from insitu.config import get_settings
from insitu.imports.pipeline import run_import
from insitu.imports.service import RUN_TASK
from insitu.jobs import task


@task(RUN_TASK)
def run(job_id: str) -> None:
    run_import(job_id, settings=get_settings())
