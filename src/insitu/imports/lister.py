"""An import's one lister: walks the source and records batches of files for any worker.

The lister holds a lease on its import (token and expiry on the job row), so one import has
one lister at a time; each page it lists becomes a batch, committed with the listing's
cursor, so a lister that dies resumes after the last page it recorded and never records a
file twice. A prefix is split in parts (its top-level folders) listed several at once, each
with its own cursor; a part that runs long while listers are idle is cut into key ranges
(``key_ranges``), so one folder of millions of files is listed several ranges at once too.
It stops and comes back later (re-queued with a countdown, so it never holds a worker while
it waits) when INSITU_IMPORT_MAX_PENDING_BATCHES of its batches are still queued or running,
and when the store is throttling or unavailable (with backoff).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from insitu import jobs
from insitu.config import Settings
from insitu.db import get_one_for_update, new_id, session_scope, utcnow
from insitu.errors import InsituError, QueueUnreachable
from insitu.imports import service as imports
from insitu.imports.batches import BATCH_TASK, add_batch
from insitu.imports.completion import fail, finish_if_complete, unavailable_error
from insitu.imports.key_ranges import cut_points, up_to
from insitu.imports.leases import Lease, backoff, expiry
from insitu.imports.models import (
    BATCH_PENDING,
    BATCH_QUEUED,
    QUEUED,
    RUNNING,
    ImportBatch,
    ImportJob,
    ImportPart,
)
from insitu.imports.source import Source, open_source
from insitu.storage.base import ListPage
from insitu.storage.transient import is_transient

log = logging.getLogger(__name__)

LIST_TASK = imports.RUN_TASK  # the name queued imports have always been sent under
DELIMITER = "/"
# Pages a part lists before it may be cut: a folder of a few pages is done before ranges pay.
PAGES_BEFORE_CUT = 2


@dataclass
class ListerRun:
    """How a lister run ended: ``done``, ``wait`` (call again with ``token`` after ``wait``
    seconds) or ``stopped`` (not claimed, lost, or the import ended)."""

    state: str
    token: str | None = None
    wait: float = 0.0


class _Lost(Exception):
    pass


def run_lister(
    job_id: str, *, settings: Settings, token: str | None = None, requeue: bool = True
) -> ListerRun:
    """List import ``job_id`` until done or paused. With ``requeue``, a paused lister queues
    itself to come back; without, the caller (the CLI's foreground run) calls again."""
    mine = new_id()
    with session_scope() as session:
        job, resumed = _claim(session, job_id, mine, token, settings)
        if job is None:
            return ListerRun("stopped")
        done = job.listing_done
        unopened: InsituError | None = None
        if done:
            session.execute(
                update(ImportJob).where(ImportJob.id == job_id).values(lister_token=None)
            )
        else:
            try:
                source = open_source(session, job, settings)
            except InsituError as exc:
                unopened = exc
    if resumed and requeue:
        # In a transaction of its own: batch rows are never locked while the import's row
        # is held, as a batch's commit takes them the other way round.
        with session_scope() as session:
            _requeue_batches(session, job_id)
    if unopened is not None:
        return _listing_failed(job_id, mine, unopened, settings, requeue)
    if done:
        finish_if_complete(job_id, settings=settings)
        return ListerRun("done")
    lease = Lease(ImportJob, job_id, mine, settings.import_lease_seconds, job_id=job_id)
    lister = _Lister(source, lease, settings, enqueue=requeue)
    try:
        with lease.kept_alive():
            state = lister.run()
    except _Lost:
        return ListerRun("stopped")
    except QueueUnreachable as exc:
        # Its page is committed; the sweep hands out its batches and the listing again.
        log.warning("listing import %s paused: %s", job_id, exc.detail)
        return ListerRun("stopped")
    except InsituError as exc:
        return _listing_failed(job_id, mine, exc, settings, requeue)
    except Exception:
        log.exception("listing import %s failed unexpectedly", job_id)
        fix = (
            f"resume it with 'insitu import --resume {job_id}'; "
            "if it fails again, send the server log to the operator"
        )
        detail = "insitu hit an unexpected error while listing; what was imported so far is kept"
        error = {"error": "internal_error", "detail": detail, "fix": fix}
        fail(job_id, error, settings=settings)
        raise
    if state == "done":
        log.info("import %s: listing done", job_id)
        finish_if_complete(job_id, settings=settings)
        return ListerRun("done")
    return _pause(job_id, mine, _wait_for_room(job_id, settings), settings, requeue)


def _wait_for_room(job_id: str, settings: Settings) -> float:
    """How long a lister whose batches fill the queue stays away: until about half of them
    are done at the import's recent rate, from a tenth of a second to two seconds. Sixteen
    workers drain sixteen batches in well under a second; two seconds away starved them."""
    longest = min(2.0, settings.import_lease_seconds / 4)
    with session_scope() as session:
        rate = imports.recent_rate(session, session.get_one(ImportJob, job_id))
    if rate <= 0:
        return longest
    waiting = settings.import_max_pending_batches * settings.import_batch_size
    return max(0.1, min(longest, waiting / 2 / rate))


def _claim(
    session: Session,
    job_id: str,
    mine: str,
    token: str | None,
    settings: Settings,
) -> tuple[ImportJob | None, bool]:
    """The import's listing, if this run may have it, and whether the import just started
    (new or resumed)."""
    job = session.get(ImportJob, job_id)
    if job is None:
        return None, False
    fresh = False
    if job.status == QUEUED:
        # A new or resumed import takes one of its org's slots first, or waits queued.
        if imports.claim(session, job_id, max_running=settings.max_running_imports_per_org):
            fresh = True
        else:
            log.info(
                "import %s stays queued: its org is at its cap of %d running imports "
                "(INSITU_MAX_RUNNING_IMPORTS_PER_ORG); it starts when one of them ends",
                job_id, settings.max_running_imports_per_org,
            )  # fmt: skip
            return None, False
    now = utcnow()
    # Free: never held, lapsed, or handed out by the sweep with no holder yet.
    holders = [
        ImportJob.lister_lease_until.is_(None),
        ImportJob.lister_lease_until < now,
        ImportJob.lister_token.is_(None),
    ]
    if token is not None:
        holders.append(ImportJob.lister_token == token)
    if fresh:
        holders.append(ImportJob.id == job_id)  # resumed: any earlier lister is gone
    claimed = session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id, ImportJob.status == RUNNING, or_(*holders))
        .values(
            lister_token=mine,
            lister_lease_until=expiry(settings.import_lease_seconds, now=now),
            heartbeat_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None, False
    session.refresh(job)
    return job, fresh


def _requeue_batches(session: Session, job_id: str) -> None:
    """A resumed import's batches queued before it stopped: handed to the workers again."""
    queued = session.scalars(
        select(ImportBatch.id).where(
            ImportBatch.job_id == job_id, ImportBatch.status == BATCH_QUEUED
        )
    )
    now = utcnow()
    for batch_id in queued:
        jobs.enqueue(session, BATCH_TASK, batch_id=batch_id)
    session.execute(
        update(ImportBatch)
        .where(ImportBatch.job_id == job_id, ImportBatch.status == BATCH_QUEUED)
        .values(enqueued_at=now, not_before=None)
    )


def _pause(job_id: str, mine: str, wait: float, settings: Settings, requeue: bool) -> ListerRun:
    """Keep the listing ours while away, and come back after ``wait`` seconds."""
    with session_scope() as session:
        held = session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id, ImportJob.lister_token == mine)
            .values(lister_lease_until=expiry(wait + settings.import_lease_seconds))
        )
        if held.rowcount != 1:  # type: ignore[attr-defined]
            return ListerRun("stopped")
        if requeue:
            jobs.enqueue_in(session, wait, LIST_TASK, job_id=job_id, token=mine)
    return ListerRun("wait", token=mine, wait=wait)


def _listing_failed(
    job_id: str, mine: str, exc: InsituError, settings: Settings, requeue: bool
) -> ListerRun:
    """A busy store: try again after a backoff, up to the attempts; anything else fails."""
    if not is_transient(exc):
        fail(job_id, exc.as_dict(), settings=settings)
        log.warning("import %s failed: %s", job_id, exc.detail)
        return ListerRun("stopped")
    with session_scope() as session:
        job = get_one_for_update(session, ImportJob, job_id)
        if job.status != RUNNING or job.lister_token != mine:
            return ListerRun("stopped")  # canceled, failed or taken over meanwhile
        job.list_attempts += 1
        attempts = job.list_attempts
        delay = backoff(
            attempts, base=settings.import_retry_base_seconds, cap=settings.import_retry_max_seconds
        )
        if attempts < settings.import_retry_attempts:
            job.error = exc.as_dict() | {
                "detail": f"{exc.detail}; the listing goes on trying ({attempts} of "
                f"{settings.import_retry_attempts} tries failed)"
            }
    if attempts >= settings.import_retry_attempts:
        error = unavailable_error(job_id, 0) | {
            "detail": f"listing the source failed {attempts} times in a row: {exc.detail}"
        }
        fail(job_id, error, settings=settings)
        return ListerRun("stopped")
    log.info("listing import %s: the store is busy (%s); again in %.1fs", job_id, exc, delay)
    return _pause(job_id, mine, delay, settings, requeue)


@dataclass
class _Lister:
    source: Source
    lease: Lease
    settings: Settings
    enqueue: bool  # hand batches to the job backend (else the foreground run takes them)
    # The open listing of each part, so a part is not listed again from its cursor per page.
    listings: dict[str, Iterator[ListPage]] = field(default_factory=dict)
    pages_listed: dict[str, int] = field(default_factory=dict)  # by part, in this run

    @property
    def job_id(self) -> str:
        return self.source.job.id

    def run(self) -> str:
        """List until the listing is done (``done``) or enough batches wait (``wait``)."""
        if self.source.job.source_files is not None:
            return self._named_files()
        self._first_part()
        workers = self.settings.import_list_concurrency
        with ThreadPoolExecutor(workers) as pool:
            while True:
                room = self.settings.import_max_pending_batches - self._pending()
                if room <= 0:
                    return "wait"
                parts = self._open_parts(workers)
                if not parts:
                    self._commit(lambda session: None, listing_done=True)
                    return "done"
                listed = parts[:room]
                pages = pool.map(self._next_page, listed)
                idle = workers - len(parts)
                for part, page in zip(listed, pages, strict=True):
                    cuts = self._cuts(part, page) if idle > 0 else []
                    if cuts:
                        idle = 0  # the new ranges are enough for this round
                    self._commit_page(part, page, cuts)

    def _named_files(self) -> str:
        files = self.source.job.source_files or []
        step = self.settings.import_batch_size
        while True:
            with session_scope() as session:
                done = session.get_one(ImportJob, self.job_id).files_done
            if done >= len(files):
                self._commit(lambda session: None, listing_done=True)
                return "done"
            if self._pending() >= self.settings.import_max_pending_batches:
                return "wait"
            batch = files[done : done + step]

            def record(session: Session, batch: list[str] = batch, done: int = done) -> None:
                add_batch(session, self.job_id, list(batch), enqueue=self.enqueue)
                session.execute(
                    update(ImportJob)
                    .where(ImportJob.id == self.job_id)
                    .values(files_done=done + len(batch), listed=ImportJob.listed + len(batch))
                )

            self._commit(record)

    def _first_part(self) -> None:
        with session_scope() as session:
            exists = session.scalar(
                select(ImportPart.id).where(ImportPart.job_id == self.job_id).limit(1)
            )
        if exists is None:
            prefix = self.source.location.key

            def record(session: Session) -> None:
                session.add(ImportPart(job_id=self.job_id, prefix=prefix, delimited=True))

            self._commit(record)

    def _pending(self) -> int:
        with session_scope() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(ImportBatch)
                    .where(ImportBatch.job_id == self.job_id, ImportBatch.status.in_(BATCH_PENDING))
                )
                or 0
            )

    def _open_parts(self, limit: int) -> list[ImportPart]:
        with session_scope() as session:
            return list(
                session.scalars(
                    select(ImportPart)
                    .where(ImportPart.job_id == self.job_id, ImportPart.done.is_(False))
                    .order_by(ImportPart.delimited.desc(), ImportPart.id)
                    .limit(limit)
                )
            )

    def _next_page(self, part: ImportPart) -> ListPage | None:
        listing = self.listings.get(part.id)
        if listing is None:
            pages = self.source.store.list_pages(
                part.prefix,
                cursor=part.cursor,
                page_size=self.settings.import_batch_size,
                delimiter=DELIMITER if part.delimited else None,
            )
            listing = up_to(pages, part.last)
            self.listings[part.id] = listing
        try:
            page = next(listing, None)
        except Exception:
            self.listings.pop(part.id, None)  # listed again from its cursor next time
            raise
        self.pages_listed[part.id] = self.pages_listed.get(part.id, 0) + 1
        return page

    def _cuts(self, part: ImportPart, page: ListPage | None) -> list[str]:
        """Where to cut the rest of a part that runs long, if its store can list from any key."""
        if page is None or page.cursor is None or not self.source.store.key_ranges:
            return []
        if self.pages_listed.get(part.id, 0) < PAGES_BEFORE_CUT:
            return []
        first = min([*(obj.key for obj in page.objects[:1]), *page.prefixes[:1]], default=None)
        if first is None:
            return []
        count = 2 * self.settings.import_list_concurrency
        cuts = cut_points(part.prefix, first, page.cursor, part.last, count)
        if cuts:
            log.info(
                "import %s: %s is long, cut into %d more key ranges from %s, listed %d at a "
                "time", self.job_id, part.prefix or "the bucket", len(cuts), page.cursor,
                self.settings.import_list_concurrency,
            )  # fmt: skip
        return cuts

    def _commit_page(self, part: ImportPart, page: ListPage | None, cuts: list[str]) -> None:
        # Keys ending in "/" are folder markers, not files.
        objects = [] if page is None else [o for o in page.objects if not o.key.endswith("/")]
        folders = [] if page is None else [p for p in page.prefixes if p != part.prefix]
        finished = page is None or page.cursor is None
        if finished or cuts:
            self.listings.pop(part.id, None)  # a cut part goes on after its last cut
            self.pages_listed.pop(part.id, None)

        def record(session: Session) -> None:
            if objects:
                add_batch(session, self.job_id, list(objects), enqueue=self.enqueue)
            for prefix in folders:
                session.add(ImportPart(job_id=self.job_id, prefix=prefix, delimited=False))
            values: dict[str, Any] = {"done": finished}
            if page is not None and page.cursor is not None:
                values["cursor"] = page.cursor
            if cuts:
                # New parts take the ranges up to the last cut; this one, listed first each
                # round, goes on after it with the rest, and is cut again if that runs long.
                starts = [values["cursor"], *cuts[:-1]]
                for after, last in zip(starts, cuts, strict=True):
                    new_part = ImportPart(
                        job_id=self.job_id,
                        prefix=part.prefix,
                        delimited=part.delimited,
                        cursor=after,
                        last=last,
                    )
                    session.add(new_part)
                values["cursor"] = cuts[-1]
            session.execute(update(ImportPart).where(ImportPart.id == part.id).values(values))
            session.execute(
                update(ImportJob)
                .where(ImportJob.id == self.job_id)
                .values(listed=ImportJob.listed + len(objects))
            )

        self._commit(record)

    def _commit(self, record: Any, *, listing_done: bool = False) -> None:
        """Record one step in one transaction, only while the listing is still ours."""
        with self.lease.lock, session_scope() as session:
            now = utcnow()
            values: dict[str, Any] = {
                "lister_lease_until": expiry(self.settings.import_lease_seconds, now=now),
                "heartbeat_at": now,
                # The store answered: no listing error is being waited out any more.
                "list_attempts": 0,
                "error": None,
            }
            if listing_done:
                values |= {"listing_done": True, "lister_token": None, "lister_lease_until": None}
            held = session.execute(
                update(ImportJob)
                .where(
                    ImportJob.id == self.job_id,
                    ImportJob.lister_token == self.lease.token,
                    ImportJob.status == RUNNING,
                )
                .values(values)
            )
            if held.rowcount != 1:  # type: ignore[attr-defined]
                self.lease.lost = True
                raise _Lost
            record(session)
