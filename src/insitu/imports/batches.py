"""One batch of an import: any worker claims it, probes its files, and writes them at once.

A batch is marked done in the same transaction as its assets, failures and counters, and only
by the worker whose lease token is on it; counters are added in SQL (``imported + n``), so
batches committing on many workers at once keep exact counts, and a batch delivered twice
(a redelivered or retried message, a sweep) writes nothing the second time. Files the store
was too busy to answer go into a new batch, tried again after a backoff; only once
INSITU_IMPORT_RETRY_ATTEMPTS are spent are they recorded as failures (``storage_unavailable``),
and the import then ends failed, saying how to resume.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from functools import partial
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from insitu import jobs
from insitu.assets import lifecycle
from insitu.config import Settings
from insitu.db import insert_ignoring_duplicates, new_id, session_scope, utcnow
from insitu.errors import InsituError
from insitu.imports import leases
from insitu.imports.completion import fail, finish_if_complete
from insitu.imports.leases import Lease, backoff, expiry
from insitu.imports.models import (
    BATCH_DONE,
    BATCH_GIVEN_UP,
    BATCH_QUEUED,
    BATCH_RUNNING,
    RUNNING,
    ImportBatch,
    ImportFailure,
    ImportJob,
)
from insitu.imports.probing import Prober, Tally, decode, encode, failure_row, key_of, tally
from insitu.imports.service import UNAVAILABLE_CODE
from insitu.imports.source import Source, open_source
from insitu.jobs import follow_up
from insitu.storage.registry import parse_location
from insitu.storage.transient import is_transient

log = logging.getLogger(__name__)

BATCH_TASK = "imports.batch"


class _Lost(Exception):
    """The batch is no longer this worker's (taken over, or its import was stopped)."""


def add_batch(
    session: Session,
    job_id: str,
    items: list[Any],
    *,
    attempts: int = 0,
    delay: float = 0,
    enqueue: bool = True,
) -> str:
    """Record a batch of ``items`` (ObjectInfo or named keys) and queue it once committed
    (unless ``enqueue`` is False: a foreground run takes its batches itself)."""
    now = utcnow()
    batch = ImportBatch(
        id=new_id(),
        job_id=job_id,
        objects=_encoded(items),
        size=len(items),
        status=BATCH_QUEUED,
        attempts=attempts,
        not_before=expiry(delay, now=now) if delay else None,
        enqueued_at=now,
    )
    session.add(batch)
    if enqueue:
        jobs.enqueue_in(session, delay, BATCH_TASK, batch_id=batch.id)
    return batch.id


def run_batch(
    batch_id: str,
    *,
    settings: Settings,
    enqueue: bool = True,
    hand_off: bool = False,
) -> bool:
    """Run batch ``batch_id`` if it is due and nobody holds it; True if this call settled it
    (or handed its writing off).

    ``enqueue``: queue the retry of files the store was too busy for (else the caller runs it).
    ``hand_off``: once its files' heads are sent for, probe and write the batch on this
    process's follow-up and writer threads (``jobs.follow_up``), so that this thread sends
    for the next batch's meanwhile; the batch's lease keeps it from anyone else until then.
    """
    token = new_id()
    with session_scope() as session:
        claimed = _claim(session, batch_id, token, settings)
        if claimed is None:
            return False
        batch, job = claimed
        try:
            source = open_source(session, job, settings)
        except InsituError as exc:
            if not is_transient(exc):
                # No access to the source at all: the whole import fails, saying why.
                session.rollback()
                fail(job.id, exc.as_dict(), settings=settings)
                return False
            source = None
    items = [decode(row) for row in batch.objects]
    lease = Lease(ImportBatch, batch_id, token, settings.import_lease_seconds, job_id=job.id)
    # Renewed from now until the batch is written (or its work fails, and the lease lapses
    # for the sweep): it may wait behind other batches on the follow-up and writer threads.
    kept_alive = ExitStack()
    kept_alive.enter_context(lease.kept_alive())
    try:
        if source is None:  # the store could not even be opened: the whole batch waits
            rows: Callable[[], Tally] = partial(Tally, retry=list(items))
            sent = False
        else:
            rows, sent = _probe(source, items, settings)
    except BaseException:
        kept_alive.close()
        raise

    def settle(written: Tally) -> bool:
        with kept_alive:
            try:
                new, failed, later = _commit(batch, job, written, lease, settings, enqueue)
            except _Lost:
                log.info("batch %s of import %s was taken over or stopped", batch_id, job.id)
                return False
        log.info(
            "import %s: batch %s of %d files written: %d new, %d failed, %d to read again later",
            job.id, batch_id, len(items), new, failed, later,
        )  # fmt: skip
        finish_if_complete(job.id, settings=settings)
        return True

    def probed() -> Tally:
        try:
            return rows()
        except BaseException:
            kept_alive.close()  # the lease lapses, and the sweep runs the batch again
            raise

    def probe_then_write() -> None:
        follow_up.hand_off_write(partial(settle, probed()))

    if not hand_off:
        return settle(probed())
    # With heads on their way, the follow-up thread probes the batch while this thread
    # sends for the next one's; with none (other stores), probing here overlaps nothing.
    try:
        if sent:
            follow_up.hand_off(probe_then_write)
        else:
            probe_then_write()
    except BaseException:
        kept_alive.close()
        raise
    return True


def _claim(
    session: Session, batch_id: str, token: str, settings: Settings
) -> tuple[ImportBatch, ImportJob] | None:
    now = utcnow()
    claimed = session.execute(
        update(ImportBatch)
        .where(
            ImportBatch.id == batch_id,
            leases.batch_due(now),
        )
        .values(
            status=BATCH_RUNNING,
            token=token,
            lease_until=expiry(settings.import_lease_seconds, now=now),
            attempts=ImportBatch.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    batch = session.get_one(ImportBatch, batch_id)  # loaded now: the session is new
    job = session.get_one(ImportJob, batch.job_id)
    if job.status != RUNNING:  # canceled, failed, or waiting to be resumed: not now
        session.rollback()
        return None
    return batch, job


def _probe(
    source: Source, items: list[Any], settings: Settings
) -> tuple[Callable[[], Tally], bool]:
    """Send for the batch's heads now. Returns the call that probes the files once their
    heads are in and gives the rows to write, and whether any heads are on their way."""
    prober = Prober(source.store, source.location, source.options)
    with session_scope() as session:
        started = prober.start(session, source.job.project_id, items)

    def finish() -> Tally:
        pool = _pool(settings.import_concurrency)
        outcomes = prober.finish(started, pool, workers=settings.import_concurrency)
        return tally(outcomes, location=source.location, job=source.job)

    return finish, not started.heads.done()


_pools = threading.local()


def _forget_pools() -> None:
    global _pools
    _pools = threading.local()  # a forked child has none of its parent's threads


os.register_at_fork(after_in_child=_forget_pools)


def _pool(size: int) -> ThreadPoolExecutor:
    """This thread's probing pool, kept from batch to batch: starting 256 threads for every
    batch cost more CPU than its database write. The pool's idle threads exit once the thread
    that owns it is gone (the executor is then collected)."""
    kept: tuple[int, ThreadPoolExecutor] | None = getattr(_pools, "kept", None)
    if kept is not None and kept[0] == size:
        return kept[1]
    if kept is not None:
        kept[1].shutdown(wait=False)
    pool = ThreadPoolExecutor(size, thread_name_prefix="insitu-probe")
    _pools.kept = (size, pool)
    return pool


def _commit(
    batch: ImportBatch,
    job: ImportJob,
    rows: Tally,
    lease: Lease,
    settings: Settings,
    enqueue: bool,
) -> tuple[int, int, int]:
    """Write a probed batch; (new assets, failed files, files queued to be read again)."""
    with lease.lock, session_scope() as session:
        now = utcnow()
        done = session.execute(
            update(ImportBatch)
            .where(
                ImportBatch.id == batch.id,
                ImportBatch.token == lease.token,
                ImportBatch.status == BATCH_RUNNING,
            )
            .values(status=BATCH_DONE, finished_at=now, lease_until=None)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise _Lost
        by = f"import:{job.id}"
        inserted = lifecycle.add_imported(session, rows.assets, by=by)
        lifecycle.take_over(
            session,
            project_id=job.project_id,
            listed=rows.present,
            connection_id=job.connection_id,
            by=by,
        )
        unavailable = _retry_or_give_up(session, batch, job, rows, settings, enqueue)
        failed = len(
            insert_ignoring_duplicates(
                session, ImportFailure, rows.failures, ["job_id", "location"]
            )
        )
        # Counters last, added in SQL: the import's row is locked only until this commits,
        # and a cancel that got there first (the status is no longer running) undoes it all.
        counted = session.execute(
            update(ImportJob)
            .where(ImportJob.id == job.id, ImportJob.status == RUNNING)
            .values(
                imported=ImportJob.imported + inserted,
                already_present=ImportJob.already_present
                + len(rows.present)
                + len(rows.assets)
                - inserted,
                failed=ImportJob.failed + failed,
                unavailable=ImportJob.unavailable + unavailable,
                bytes_read=ImportJob.bytes_read + rows.bytes_read,
                requests=ImportJob.requests + rows.requests,
                heartbeat_at=now,
            )
        )
        if counted.rowcount != 1:  # type: ignore[attr-defined]
            raise _Lost
    return inserted, failed, len(rows.retry) - unavailable


def _retry_or_give_up(
    session: Session,
    batch: ImportBatch,
    job: ImportJob,
    rows: Tally,
    settings: Settings,
    enqueue: bool,
) -> int:
    """Files the store was too busy for: a new batch after a backoff, or, once the attempts
    are spent, failures (in a given-up batch, which a resume runs again). Returns how many
    files were given up."""
    if not rows.retry:
        return 0
    attempts = batch.attempts
    if attempts < settings.import_retry_attempts:
        delay = backoff(
            attempts,
            base=settings.import_retry_base_seconds,
            cap=settings.import_retry_max_seconds,
        )
        add_batch(session, job.id, rows.retry, attempts=attempts, delay=delay, enqueue=enqueue)
        return 0
    cause = rows.retry_error
    reason = cause.detail if cause is not None else "the store could not be reached"
    given_up = ImportBatch(
        job_id=job.id,
        objects=_encoded(rows.retry),
        size=len(rows.retry),
        status=BATCH_GIVEN_UP,
        attempts=attempts,
        finished_at=utcnow(),
        error=cause.as_dict() if cause is not None else None,
    )
    session.add(given_up)
    fix = f"when the store answers again: insitu import --resume {job.id}"
    for item in rows.retry:
        location = _location(job, key_of(item))
        message = f"{location} could not be read after {attempts} tries: {reason}"
        rows.failures.append(failure_row(job.id, location, UNAVAILABLE_CODE, message, fix))
    return len(rows.retry)


def _encoded(items: list[Any]) -> list[Any]:
    """A batch's files as stored in its row: named keys as they are, listed objects as JSON."""
    return [item if isinstance(item, str) else encode(item) for item in items]


def _location(job: ImportJob, key: str) -> str:
    return parse_location(job.source).with_key(key).uri
