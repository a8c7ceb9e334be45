"""The signed-URL audit trail, written with group commits.

Every URL is on record before it is handed out, but concurrent requests share one
transaction: a request queues its row and waits until the writer thread has committed the
batch holding it. One commit per batch instead of one per URL keeps SQLite's single writer
from serializing the API, without ever returning a URL whose issue was not recorded.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert

from insitu.assets.models import SignedUrlIssue
from insitu.db import new_id, utcnow

_MAX_BATCH = 1000
_IDLE_SECONDS = 5.0
_WAIT_SECONDS = 30.0


@dataclass
class _Pending:
    row: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class AuditWriter:
    """Records signed-URL issues for one database, committing concurrent ones together."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.Queue[_Pending] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def record(
        self, *, org_id: str, asset_id: str, api_key_id: str | None, expires_at: datetime
    ) -> None:
        """Return once the issue is committed; raise if it could not be."""
        pending = _Pending(
            {
                "id": new_id(),
                "created_at": utcnow(),
                "org_id": org_id,
                "asset_id": asset_id,
                "api_key_id": api_key_id,
                "expires_at": expires_at,
            }
        )
        self._queue.put(pending)
        self._ensure_running()
        if not pending.done.wait(_WAIT_SECONDS):
            raise TimeoutError("the audit trail did not commit in time")
        if pending.error is not None:
            raise pending.error

    def _ensure_running(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="insitu-audit", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                batch = [self._queue.get(timeout=_IDLE_SECONDS)]
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            while len(batch) < _MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            error: BaseException | None = None
            try:
                with self._engine.begin() as connection:
                    connection.execute(insert(SignedUrlIssue), [item.row for item in batch])
            except BaseException as exc:  # every waiter must hear about it
                error = exc
            for item in batch:
                item.error = error
                item.done.set()


_writers: dict[int, AuditWriter] = {}
_writers_lock = threading.Lock()


def writer_for(engine: Engine) -> AuditWriter:
    with _writers_lock:
        writer = _writers.get(id(engine))
        if writer is None:
            writer = _writers[id(engine)] = AuditWriter(engine)
        return writer
