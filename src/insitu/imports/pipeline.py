"""Running one import: stream the source a page at a time, probe, write, checkpoint.

Memory stays flat whatever the bucket holds: one page of objects is in flight while the
next is being listed. Each page's assets, failures, counters and the listing cursor are
committed in one transaction, so a run killed at any point resumes after the last page it
committed and never writes an asset twice (a location is unique per project).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from insitu.assets import lifecycle
from insitu.assets.models import Asset
from insitu.config import Settings, get_settings
from insitu.connections import service as connections
from insitu.connections.models import Connection
from insitu.db import insert_ignoring_duplicates, new_id, session_scope, utcnow
from insitu.errors import InsituError, ObjectNotFound
from insitu.imports import service as imports
from insitu.imports.models import (
    CANCELED,
    FAILED,
    SUCCEEDED,
    ImportFailure,
    ImportJob,
)
from insitu.media import ProbeOptions, ProbeResult, probe_object
from insitu.organizations.models import Organization
from insitu.projects.models import Project
from insitu.storage.base import Location, ObjectInfo, ObjectStore, prefetched
from insitu.storage.registry import parse_location
from insitu.webhooks import service as webhooks

log = logging.getLogger(__name__)

ProgressCallback = Callable[[ImportJob], None]
# How often a running import proves it is alive; far below imports.service.STALE_AFTER.
HEARTBEAT_SECONDS = 20.0


@dataclass
class _Outcome:
    """What happened to one file of a page."""

    info: ObjectInfo
    location: str
    result: ProbeResult | None = None
    failure: tuple[str, str, str | None] | None = None  # code, message, fix


@dataclass
class _PageTally:
    assets: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    already_present: int = 0
    present: dict[str, ObjectInfo] = field(default_factory=dict)  # location: as listed
    bytes_read: int = 0
    requests: int = 0


def run_import(
    job_id: str, *, settings: Settings, progress: ProgressCallback | None = None
) -> None:
    """Run (or resume) import ``job_id`` to the end, recording every file's outcome.

    It waits queued while its org already runs INSITU_MAX_RUNNING_IMPORTS_PER_ORG imports;
    each run, once over, starts the org's next waiting one.
    """
    max_running = settings.max_running_imports_per_org
    with session_scope() as session:
        beat = _claim(session, job_id, max_running=max_running)
        if beat is None:
            log.info("import %s is finished, running elsewhere or waiting for a slot", job_id)
            return
        job = session.get_one(ImportJob, job_id)
        org = session.get_one(Organization, job.org_id)
        project = session.get_one(Project, job.project_id)
        connection = session.get_one(Connection, job.connection_id)
    try:
        _run_claimed(job, org, project, connection, Claim(job_id, beat), settings, progress)
    finally:
        with session_scope() as session:
            imports.start_waiting(session, org_id=org.id, max_running=max_running)


def _run_claimed(
    job: ImportJob,
    org: Organization,
    project: Project,
    connection: Connection,
    claim: Claim,
    settings: Settings,
    progress: ProgressCallback | None,
) -> None:
    job_id = job.id
    try:
        location = connections.location_for(connection, job.source)
        store = connections.open_store(connection, org=org, location=location, settings=settings)
        kinds = frozenset(project.allowed_kinds) if project.allowed_kinds else None
        options = ProbeOptions.from_settings(settings, allowed_kinds=kinds)
        _Runner(job, store, location, options, settings, progress, claim).run()
    except InsituError as exc:
        _finish(job_id, FAILED, error=exc.as_dict())
        log.warning("import %s failed: %s", job_id, exc.detail)
    except Exception:
        log.exception("import %s failed unexpectedly", job_id)
        detail = "insitu hit an unexpected error; what was imported so far is kept"
        fix = (
            f"resume it with 'insitu import --resume {job_id}'; "
            "if it fails again, send the server log to the operator"
        )
        _finish(job_id, FAILED, error={"error": "internal_error", "detail": detail, "fix": fix})
        raise


class _Runner:
    """One run of one import, from where ``job`` (as claimed) last committed."""

    def __init__(
        self,
        job: ImportJob,
        store: ObjectStore,
        location: Location,
        options: ProbeOptions,
        settings: Settings,
        progress: ProgressCallback | None,
        claim: Claim,
    ) -> None:
        self.job = job
        self.job_id = job.id
        self.claim = claim
        self.store = store
        self.location = location
        self.options = options
        self.settings = settings
        self.progress = progress

    def run(self) -> None:
        job = self.job
        pages = self._named_files(job) if job.source_files is not None else self._listing(job)
        try:
            with (
                self.claim.kept_alive(),
                ThreadPoolExecutor(self.settings.import_concurrency) as pool,
            ):
                for objects, checkpoint in pages:
                    if self.claim.lost:
                        return  # another runner took the job over; it carries on from here
                    outcomes = self._probe_page(pool, objects)
                    if not self._commit_page(outcomes, checkpoint):
                        return  # canceled, or taken over, while this page was in flight
            _finish(self.job_id, SUCCEEDED, claim=self.claim)
        finally:
            _withdraw_if_canceled(self.job_id)

    # -- sources ---------------------------------------------------------------

    def _listing(self, job: ImportJob) -> Iterator[tuple[list[ObjectInfo | str], dict[str, Any]]]:
        prefix = self.location.key
        pages = self.store.list_pages(
            prefix, cursor=job.cursor, page_size=self.settings.import_batch_size
        )
        for page in prefetched(pages):
            # Keys ending in "/" are folder markers, not files.
            objects: list[ObjectInfo | str] = [
                info for info in page.objects if not info.key.endswith("/")
            ]
            yield objects, {"cursor": page.cursor, "listed": len(objects)}
        yield [], {"listing_done": True}

    def _named_files(
        self, job: ImportJob
    ) -> Iterator[tuple[list[ObjectInfo | str], dict[str, Any]]]:
        files = job.source_files or []
        step = self.settings.import_batch_size
        for start in range(job.files_done, len(files), step):
            batch: list[ObjectInfo | str] = list(files[start : start + step])
            yield batch, {"files_done": start + len(batch), "listed": len(batch)}
        yield [], {"listing_done": True}

    # -- one page --------------------------------------------------------------

    def _probe_page(
        self, pool: ThreadPoolExecutor, objects: list[ObjectInfo | str]
    ) -> list[_Outcome]:
        if not objects:
            return []
        keys = [item if isinstance(item, str) else item.key for item in objects]
        locations = [self.location.with_key(key).uri for key in keys]
        present = self._already_present(locations)
        todo = [
            (item, uri) for item, uri in zip(objects, locations, strict=True) if uri not in present
        ]
        outcomes = list(pool.map(lambda pair: self._probe_one(*pair), todo))
        # Present already: kept with what the listing said, to bring back assets whose
        # connection was deleted if the bytes are still the same (``lifecycle.take_over``).
        skipped = [
            _Outcome(item if isinstance(item, ObjectInfo) else ObjectInfo(key=item, size=-1), uri)
            for item, uri in zip(objects, locations, strict=True)
            if uri in present
        ]
        return outcomes + skipped

    def _already_present(self, locations: list[str]) -> set[str]:
        with session_scope() as session:
            query = select(Asset.location).where(
                Asset.project_id == self.job.project_id, Asset.location.in_(locations)
            )
            return set(session.scalars(query))

    def _probe_one(self, item: ObjectInfo | str, uri: str) -> _Outcome:
        named = isinstance(item, str)
        key = item if isinstance(item, str) else item.key
        try:
            parse_location(uri)  # a key no URL can name ("a/./b", a control character): refused
            info = self.store.head(key) if isinstance(item, str) else item
            return _Outcome(info, uri, result=probe_object(self.store, info, self.options))
        except ObjectNotFound as exc:
            message = (
                f"{uri} does not exist"
                if named
                else f"{uri} was listed but is gone: it was moved or deleted during the import"
            )
            fix = "check the file name, or upload the file, then import again"
            return _failed(key, uri, "object_not_found", message, exc.fix or fix)
        except InsituError as exc:  # e.g. InvalidLocation: a name no file can have
            return _failed(key, uri, exc.code, exc.detail, exc.fix)
        except Exception as exc:  # one bad file must not stop millions of others
            log.exception("probing %s failed", uri)
            message = f"insitu could not probe {uri} ({type(exc).__name__})"
            fix = "import it again later; if it keeps failing, send the server log to the operator"
            return _failed(key, uri, "internal_error", message, fix)

    def _commit_page(self, outcomes: list[_Outcome], checkpoint: dict[str, Any]) -> bool:
        tally = _PageTally()
        for outcome in outcomes:
            if outcome.result is None and outcome.failure is None:
                tally.already_present += 1
                tally.present[outcome.location] = outcome.info
                continue
            if outcome.result is not None:
                tally.bytes_read += outcome.result.bytes_read
                tally.requests += outcome.result.requests
                failure = outcome.result.failure
                if failure is not None:
                    outcome.failure = (failure.code, failure.reason, failure.fix)
            if outcome.failure is not None:
                code, message, fix = outcome.failure
                tally.failures.append(
                    {
                        "id": new_id(),
                        "created_at": utcnow(),
                        "job_id": self.job_id,
                        "location": outcome.location,
                        "code": code,
                        "message": message,
                        "fix": fix,
                    }
                )
                continue
            tally.assets.append(_asset_row(outcome, self.location, self.job))
        with self.claim.lock, session_scope() as session:
            job = session.get_one(ImportJob, self.job_id, with_for_update=True)
            if job.status == CANCELED or not self.claim.renew(job):
                return False
            by = f"import:{job.id}"
            inserted = lifecycle.add_imported(session, tally.assets, by=by)
            lifecycle.take_over(
                session,
                project_id=job.project_id,
                listed=tally.present,
                connection_id=job.connection_id,
                by=by,
            )
            failed = len(
                insert_ignoring_duplicates(
                    session, ImportFailure, tally.failures, ["job_id", "location"]
                )
            )
            job.imported += inserted
            job.already_present += tally.already_present + len(tally.assets) - inserted
            job.failed += failed
            job.bytes_read += tally.bytes_read
            job.requests += tally.requests
            job.listed += checkpoint.get("listed", 0)
            if "cursor" in checkpoint:
                job.cursor = checkpoint["cursor"]
            if "files_done" in checkpoint:
                job.files_done = checkpoint["files_done"]
            if checkpoint.get("listing_done"):
                job.listing_done = True
            if self.progress is not None:
                self.progress(job)
        return True


def _failed(key: str, uri: str, code: str, message: str, fix: str | None) -> _Outcome:
    return _Outcome(ObjectInfo(key=key, size=0), uri, failure=(code, message, fix))


def _asset_row(outcome: _Outcome, location: Location, job: ImportJob) -> dict[str, Any]:
    assert outcome.result is not None and outcome.result.facts is not None
    now = utcnow()
    return {
        "id": new_id(),
        "created_at": now,
        "updated_at": now,
        "status": "active",
        "org_id": job.org_id,
        "project_id": job.project_id,
        "connection_id": job.connection_id,
        "import_job_id": job.id,
        "location": outcome.location,
        "provider": location.provider,
        "bucket": location.bucket,
        "key": outcome.info.key,
        **lifecycle.fact_columns(outcome.result.facts, outcome.info),
    }


def _claim(session: Session, job_id: str, *, max_running: int | None = None) -> datetime | None:
    """Mark the job running if it is queued or abandoned and its org has a free slot."""
    if max_running is None:
        max_running = get_settings().max_running_imports_per_org
    return imports.claim(session, job_id, max_running=max_running)


def _withdraw_if_canceled(job_id: str) -> None:
    """A page committed while its import was being canceled with its assets leaves too."""
    with session_scope() as session:
        job = session.get_one(ImportJob, job_id)
        if job.status == CANCELED and job.assets_withdrawn:
            from insitu.assets import service as assets

            assets.remove_for_import(session, job_id=job_id, by="system")


def _finish(
    job_id: str, status: str, *, error: dict[str, Any] | None = None, claim: Claim | None = None
) -> None:
    with session_scope() as session:
        job = session.get_one(ImportJob, job_id, with_for_update=True)
        if job.status == CANCELED or (claim is not None and job.heartbeat_at != claim.beat):
            return
        job.status, job.error, job.finished_at = status, error, utcnow()
        webhooks.import_finished(session, job)


class Claim:
    """This run's hold on its job: the heartbeat it last wrote.

    A run beats while it works, so a slow page never looks abandoned. If another runner
    still takes the job over (it thought this one dead), the heartbeat in the row is no
    longer this run's: this run commits nothing more and stops, and the other carries on.
    """

    def __init__(self, job_id: str, beat: datetime) -> None:
        self.job_id = job_id
        self.beat = beat
        self.lost = False
        self.lock = threading.Lock()

    def renew(self, job: ImportJob) -> bool:
        """Inside the transaction holding ``job``: still ours? Then beat again."""
        if job.heartbeat_at != self.beat:
            self.lost = True
            return False
        self.beat = job.heartbeat_at = utcnow()
        return True

    @contextmanager
    def kept_alive(self) -> Iterator[None]:
        stop = threading.Event()
        thread = threading.Thread(target=self._beat_until, args=(stop,), daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _beat_until(self, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_SECONDS) and not self.lost:
            with self.lock, session_scope() as session:
                now = utcnow()
                beat = (
                    update(ImportJob)
                    .where(ImportJob.id == self.job_id, ImportJob.heartbeat_at == self.beat)
                    .values(heartbeat_at=now)
                )
                if session.execute(beat).rowcount == 1:  # type: ignore[attr-defined]
                    self.beat = now
                else:
                    self.lost = True
