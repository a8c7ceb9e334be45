"""Event sequencers are kept only while an event of their key can still arrive.

A key's sequencer (``EventSequencer``) exists to recognise a late or repeated event of that
key. SQS keeps a message at most 14 days from when it was sent (a dead-letter queue counts
from the same moment), so once a key has had no event for longer, nothing can come to compare
with its sequencer: the row is forgotten, and a bucket whose keys come and go does not grow
the table for ever.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from insitu.db import utcnow
from insitu.watch.models import EventSequencer

SEQUENCER_RETENTION = timedelta(days=15)  # SQS's longest retention, and a day to spare


def forget_expired(session: Session, *, now: datetime | None = None) -> int:
    """Delete the sequencers no event can follow any more; returns how many."""
    cutoff = (now or utcnow()) - SEQUENCER_RETENTION
    result = session.execute(delete(EventSequencer).where(EventSequencer.updated_at < cutoff))
    return result.rowcount or 0  # type: ignore[attr-defined]
