"""Webhook retries: a daemon thread in each server sends the deliveries that are due.

Every INSITU_WEBHOOK_SWEEP_SECONDS it attempts each pending delivery whose next attempt has
come: retries, and first sends whose queued task was lost (a restart between commit and send).
Several servers may sweep at once: a delivery is claimed before it is sent (``delivery.claim``).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from insitu.config import Settings
from insitu.webhooks.delivery import deliver_due

log = logging.getLogger(__name__)

# Deliveries sent at once by one server: a slow endpoint holds one sender, not the sweep.
SENDERS = 4


class DeliverySweep:
    def __init__(self, engine: Engine, *, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.tick = settings.webhook_sweep_seconds
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(SENDERS, thread_name_prefix="webhook-sender")
        self._thread = threading.Thread(target=self._run, name="webhook-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                sent = deliver_due(self.engine, settings=self.settings, pool=self._pool)
                if sent:
                    log.info("sent %d webhook deliveries that were due", sent)
            except Exception:  # the sweep must outlive a database hiccup
                log.exception("sending due webhook deliveries failed; trying again next tick")
