"""The signed-URL audit trail (and denied requests), written with group commits.

Every URL is on record before it is handed out, but concurrent requests share one
transaction: each request queues its row, then takes its turn at the commit lock. The
first to get the lock commits every row queued so far; the others find theirs already
committed and return. One commit per batch instead of one per URL keeps SQLite's single
writer from serializing the API, without ever returning a URL whose issue was not recorded.
Denied requests use the same writer: their own request's transaction rolls back, so they need
one of their own, and a burst of them costs one commit, not one each.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, insert

from insitu.assets.models import SignedUrlIssue
from insitu.db import new_id, utcnow


@dataclass
class _Pending:
    table: Table
    rows: list[dict[str, Any]]
    done: bool = False
    error: BaseException | None = None


class AuditWriter:
    """Records signed-URL issues for one database, committing concurrent ones together."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: deque[_Pending] = deque()
        self._commit_lock = threading.Lock()

    def record(
        self,
        *,
        org_id: str,
        asset_id: str,
        api_key_id: str | None,
        expires_at: datetime,
        client_address: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """Return once the issue is committed; raise if it could not be."""
        self.record_many(
            org_id=org_id,
            api_key_id=api_key_id,
            issued=[(asset_id, expires_at)],
            client_address=client_address,
            user_agent=user_agent,
        )

    def record_many(
        self,
        *,
        org_id: str,
        api_key_id: str | None,
        issued: list[tuple[str, datetime]],
        client_address: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """Record URLs for several assets (asset id, expiry) at once; return once committed."""
        shared = {
            "org_id": org_id,
            "api_key_id": api_key_id,
            "client_address": client_address[:64] if client_address else None,
            "user_agent": user_agent[:300] if user_agent else None,
        }
        rows = [
            {**shared, "asset_id": asset_id, "expires_at": expires_at}
            for asset_id, expires_at in issued
        ]
        self.insert(SignedUrlIssue.__table__, *rows)  # type: ignore[arg-type]

    def insert(self, table: Table, *rows: dict[str, Any]) -> None:
        """Insert ``rows`` (each with a fresh id and time) into ``table``; return once committed."""
        now = utcnow()
        pending = _Pending(table, [{"id": new_id(), "created_at": now, **row} for row in rows])
        self._queue.append(pending)
        with self._commit_lock:
            if not pending.done:
                self._commit_queued()
        if pending.error is not None:
            raise pending.error

    def _commit_queued(self) -> None:
        batch: list[_Pending] = []
        while self._queue:
            batch.append(self._queue.popleft())
        error: BaseException | None = None
        try:
            with self._engine.begin() as connection:
                for table in dict.fromkeys(item.table for item in batch):
                    rows = [row for item in batch if item.table is table for row in item.rows]
                    connection.execute(insert(table), rows)
        except BaseException as exc:  # every request in the batch must hear about it
            error = exc
        for item in batch:
            item.error, item.done = error, True


_writers: dict[int, AuditWriter] = {}
_writers_lock = threading.Lock()


def writer_for(engine: Engine) -> AuditWriter:
    with _writers_lock:
        writer = _writers.get(id(engine))
        if writer is None:
            writer = _writers[id(engine)] = AuditWriter(engine)
        return writer
