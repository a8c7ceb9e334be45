"""Webhook retries: a daemon thread in each server sends the deliveries that are due.

Every INSITU_WEBHOOK_SWEEP_SECONDS it attempts each pending delivery whose next attempt has
come: retries, and first sends whose queued task was lost (a restart between commit and send).
Several servers may sweep at once: a delivery is claimed before it is sent (``delivery.claim``).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from insitu.config import Settings
from insitu.jobs.periodic import Periodic
from insitu.webhooks.delivery import deliver_due

log = logging.getLogger(__name__)

# Deliveries sent at once by one server: a slow endpoint holds one sender, not the sweep.
SENDERS = 4


class DeliverySweep(Periodic):
    def __init__(self, engine: Engine, *, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._pool = ThreadPoolExecutor(SENDERS, thread_name_prefix="webhook-sender")
        tick = settings.webhook_sweep_seconds
        super().__init__("webhook-sweep", tick, self._send_due, first_delay=tick)

    def stop(self) -> None:
        super().stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _send_due(self, _first: bool) -> None:
        sent = deliver_due(self.engine, settings=self.settings, pool=self._pool)
        if sent:
            log.info("sent %d webhook deliveries that were due", sent)
