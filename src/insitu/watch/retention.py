"""Event sequencers are kept only while an event of their key can still arrive.

A key's sequencer (``EventSequencer``) exists to recognise a late or repeated event of that
key. SQS keeps a message at most 14 days from when it was sent (a dead-letter queue counts
from the same moment), so once a key has had no event for longer, nothing can come to compare
with its sequencer: the row is forgotten, and a bucket whose keys come and go does not grow
the table for ever.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select

from insitu.db import session_scope, utcnow
from insitu.watch.models import EventSequencer

SEQUENCER_RETENTION = timedelta(days=15)  # SQS's longest retention, and a day to spare


CHUNK = 5000  # rows deleted per transaction: a long backlog never holds the lock for long


def forget_expired(engine: Engine, *, now: datetime | None = None) -> int:
    """Delete the sequencers no event can follow any more, a chunk per transaction; returns
    how many."""
    cutoff = (now or utcnow()) - SEQUENCER_RETENTION
    forgotten = 0
    while True:
        with session_scope(engine) as session:
            expired = (
                select(EventSequencer.id).where(EventSequencer.updated_at < cutoff).limit(CHUNK)
            )
            deleted = session.execute(
                delete(EventSequencer).where(EventSequencer.id.in_(expired.scalar_subquery()))
            ).rowcount  # type: ignore[attr-defined]
        forgotten += deleted or 0
        if not deleted or deleted < CHUNK:
            return forgotten
