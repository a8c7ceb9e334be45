"""The Celery side of event consumers: a task that consumes for a while, then hands over.

``watch.consume`` takes the queue's lease, long-polls for INSITU_EVENTS_TASK_SECONDS, and
queues its successor with the same holder while the lease is still its own, so the queue is
never left without a consumer nor given two. A worker that dies lets the lease lapse, and the
next server check (``supervisor``) queues a new task.
"""

from __future__ import annotations

from insitu import jobs
from insitu.config import get_settings
from insitu.jobs import task
from insitu.watch.supervisor import CONSUME_TASK


@task(CONSUME_TASK)
def consume(connection_id: str, holder: str | None = None) -> None:
    from insitu.db import session_scope
    from insitu.watch import lease
    from insitu.watch.consumer import Consumer

    settings = get_settings()
    consumer = Consumer(connection_id, settings=settings, holder=holder)
    try:
        consumer.run(seconds=settings.events_task_seconds, release=False)
    finally:
        consumer.close()
    with session_scope() as session:
        # Still ours, and still watched: the successor carries on under the same lease.
        mine = lease.renew(
            session,
            queue=consumer.queue,
            holder=consumer.holder,
            seconds=settings.events_lease_seconds,
        )
        if mine and consumer.watched():
            jobs.enqueue(session, CONSUME_TASK, connection_id=connection_id, holder=consumer.holder)
        elif mine:
            lease.release(session, queue=consumer.queue, holder=consumer.holder)
