"""Connection tasks, run by whichever job backend is configured."""

from __future__ import annotations

from insitu.config import get_settings
from insitu.connections import health
from insitu.db import session_scope
from insitu.jobs import task


@task(health.HEALTH_TASK)
def health_check(connection_id: str) -> None:
    with session_scope() as session:
        health.check_by_id(session, connection_id=connection_id, settings=get_settings())
