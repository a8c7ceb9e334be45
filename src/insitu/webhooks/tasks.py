"""Webhook tasks, run by whichever job backend is configured."""

from __future__ import annotations

from insitu.config import get_settings
from insitu.jobs import task
from insitu.webhooks.delivery import deliver
from insitu.webhooks.service import DELIVER_TASK


@task(DELIVER_TASK)
def deliver_task(delivery_id: str, attempt: int) -> None:
    deliver(delivery_id, settings=get_settings(), attempt=attempt)
