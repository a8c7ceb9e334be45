"""One reconcile: list what the project imported from, and bring its assets in line with it.

For each *root* (a connection's prefix the project imported from; nested prefixes collapse
into the outermost) the listing and the project's assets under it are merged in key order
(``walk.merge``), a page at a time:

- listed and known, same ETag and size: unchanged (no request beyond the listing);
- listed and known, ETag or size differ: re-probed from its header; new facts, or out of
  circulation as ``changed_invalid`` with the validation's reason and fix;
- known only, in circulation: gone from here, for now;
- listed only: new here, for now.

Once every root is walked, a gone asset whose ETag and size turn up among the new objects has
**moved**: it keeps its id and now points at the new location. The other gone assets leave
circulation (``moved_or_deleted``); the other new objects under a prefix import are imported
(``added``) by an import of exactly those files, unless the project says not to. A removed
asset whose object is back unchanged comes back (``restored``).

Nothing leaves circulation as gone until every listing has been read whole: a listing that
fails, arrives out of order, or comes back empty where assets are in circulation fails the
reconcile without removing anything for being gone. (A changed file that no longer validates
leaves as soon as its page is settled: that needs its new header, not a whole listing.) An
asset imported while the reconcile runs is never taken for gone, and assets another live
connection reads are left to that connection's own walk.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, bindparam, cast, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from insitu.assets import lifecycle
from insitu.assets.models import (
    ACTIVE,
    CHANGED_INVALID,
    CONNECTION_REMOVED,
    MOVED_OR_DELETED,
    Asset,
)
from insitu.audit import service as audit
from insitu.audit.service import Actor
from insitu.config import Settings
from insitu.connections import service as connections
from insitu.connections.models import Connection
from insitu.db import get_one_for_update, in_byte_order, session_scope, utcnow
from insitu.errors import Conflict, InsituError
from insitu.imports import service as imports
from insitu.imports.models import CANCELED, FINISHED_STATUSES, ImportJob
from insitu.imports.schemas import ImportCreate
from insitu.media import ProbeOptions, ProbeResult, probe_object
from insitu.organizations.models import Organization
from insitu.projects.models import Project
from insitu.reconcile.models import FAILED, QUEUED, RUNNING, SKIPPED, SUCCEEDED, ReconcileJob
from insitu.reconcile.service import STALE_AFTER, lock_project, read
from insitu.reconcile.walk import OutOfOrder, merge
from insitu.storage.base import Location, ObjectInfo, ObjectStore, prefetched
from insitu.storage.registry import addressable, parse_location
from insitu.webhooks import service as webhooks

log = logging.getLogger(__name__)

BY = "reconcile"
ACTOR = Actor(BY)
_PAGE = 1000
# At most this many files per import of new files (an import's list of named files).
_ADD_BATCH = 10_000


@dataclass(frozen=True)
class Root:
    """A prefix to list, with its connection, the prefixes under it that add new files, and
    those an import is still listing (their new files are that import's to add)."""

    connection_id: str
    location: Location
    adds: tuple[str, ...]
    importing: tuple[str, ...] = ()

    def adds_new(self, uri: str) -> bool:
        return any(uri.startswith(prefix) for prefix in self.adds) and not any(
            uri.startswith(prefix) for prefix in self.importing
        )


@dataclass(frozen=True, slots=True)
class Listed:
    location: str
    info: ObjectInfo
    root: Root


@dataclass(frozen=True, slots=True)
class Known:
    id: str
    location: str
    status: str
    reason: str | None
    etag: str | None
    size: int | None
    connection_id: str
    content_hash: str | None
    created_at: datetime

    @property
    def fingerprint(self) -> tuple[str | None, int | None]:
        """As ``ObjectInfo.fingerprint``: the bytes' digest (else ETag) and size."""
        return (self.content_hash or self.etag, self.size)

    def same_bytes(self, info: ObjectInfo) -> bool:
        """Whether ``info`` (as listed or read now) still holds the bytes this asset was."""
        return info.holds(etag=self.etag, content_hash=self.content_hash, size=self.size)

    def may_come_back(self, info: ObjectInfo, connection_id: str) -> bool:
        """Whether this removed asset returns now that ``info`` is there through
        ``connection_id``: it was deleted, refused but has changed since, or its connection
        was deleted and another one reaches it."""
        if self.reason == MOVED_OR_DELETED:
            return True
        if self.reason == CHANGED_INVALID:
            return not self.same_bytes(info)
        return self.reason == CONNECTION_REMOVED and self.connection_id != connection_id


@dataclass
class _Tally:
    checked: int = 0
    unchanged: int = 0
    removed: int = 0
    changed: int = 0
    moved: int = 0
    restored: int = 0
    added: int = 0
    failed: int = 0
    list_requests: int = 0
    read_requests: int = 0

    def as_values(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Changes:
    """Which assets left or came back, for the one notification of each the reconcile sends:
    counts by reason, and the first ids (``webhooks.MAX_IDS``)."""

    removed: Counter[str] = field(default_factory=Counter)
    removed_ids: list[str] = field(default_factory=list)
    restored_ids: list[str] = field(default_factory=list)
    restored: int = 0

    def left(self, reason: str, ids: Sequence[str]) -> None:
        self.removed[reason] += len(ids)
        self.removed_ids.extend(ids[: max(0, webhooks.MAX_IDS - len(self.removed_ids))])

    def came_back(self, ids: Sequence[str]) -> None:
        self.restored += len(ids)
        self.restored_ids.extend(ids[: max(0, webhooks.MAX_IDS - len(self.restored_ids))])


@dataclass
class _Candidates:
    """What the walk could not settle alone: gone assets and new objects, matched at the end."""

    gone: dict[tuple[str | None, int | None], list[Known]] = field(
        default_factory=lambda: defaultdict(list)
    )
    new: list[Listed] = field(default_factory=list)


ProgressCallback = Callable[[ReconcileJob], None]


def run_reconcile(
    job_id: str, *, settings: Settings, progress: ProgressCallback | None = None
) -> None:
    """Run reconcile ``job_id`` to the end; a failure is recorded on the job, never half-done."""
    with session_scope() as session:
        if not _claim(session, job_id):
            log.info("reconcile %s is finished or running elsewhere; not starting it", job_id)
            return
        job = session.get_one(ReconcileJob, job_id)
        project = session.get_one(Project, job.project_id)
        org = session.get_one(Organization, job.org_id)
        roots = roots_of(session, project=project)
    reconciler = _Reconciler(job_id, project, org, roots, settings, progress)
    try:
        reconciler.run()
    except (InsituError, OutOfOrder) as exc:
        error = exc.as_dict() if isinstance(exc, InsituError) else _out_of_order(exc)
        _finish(job_id, FAILED, error=error, changes=reconciler.changes)
        log.warning("reconcile %s failed: %s", job_id, error["detail"])
    except Exception:
        log.exception("reconcile %s failed unexpectedly", job_id)
        _finish(
            job_id,
            FAILED,
            changes=reconciler.changes,
            error={
                "error": "internal_error",
                "detail": "insitu hit an unexpected error; nothing was taken out of circulation",
                "fix": "run the reconcile again; if it fails again, send the server log to the "
                "operator",
            },
        )
        raise


def roots_of(session: Session, *, project: Project) -> list[Root]:
    """The prefixes to list for ``project``: each live connection's import sources, nested
    prefixes folded into the outermost. Named-file imports are checked, never extended."""
    is_prefix_import = or_(
        ImportJob.source_files.is_(None), cast(ImportJob.source_files, String) == "null"
    )
    rows = session.execute(
        select(ImportJob.connection_id, ImportJob.source, is_prefix_import, ImportJob.status)
        .join(Connection, Connection.id == ImportJob.connection_id)
        .where(ImportJob.project_id == project.id, Connection.deleted_at.is_(None))
        .distinct()
    ).all()
    buckets: dict[tuple[str, str], Location] = {}
    folders: dict[tuple[str, str], set[str]] = defaultdict(set)
    adds: dict[tuple[str, str], set[str]] = defaultdict(set)
    importing: dict[tuple[str, str], set[str]] = defaultdict(set)
    for connection_id, source, prefix_import, status in rows:
        location = parse_location(source)
        folder = _folder(location)
        bucket = (connection_id, location.with_key("").uri)
        buckets[bucket] = location
        folders[bucket].add(folder.key)
        # A canceled import's prefix is not grown behind the back of whoever canceled it.
        if prefix_import and location.is_prefix and status != CANCELED:
            adds[bucket].add(folder.uri)
        # Files a queued or running import has yet to reach would be imported twice.
        if status not in FINISHED_STATUSES:
            importing[bucket].add(folder.uri)
    roots = []
    for bucket, keys in sorted(folders.items()):
        outermost = [key for key in sorted(keys) if not any(
            key != other and key.startswith(other) for other in keys)]  # fmt: skip
        for key in outermost:
            location = buckets[bucket].with_key(key)
            under = tuple(sorted(p for p in adds[bucket] if p.startswith(location.uri)))
            busy = tuple(sorted(p for p in importing[bucket] if p.startswith(location.uri)))
            roots.append(Root(bucket[0], location, under, busy))
    return roots


def _folder(location: Location) -> Location:
    if location.is_prefix:
        return location
    parent, slash, _ = location.key.rpartition("/")
    return location.with_key(parent + slash)


class _Reconciler:
    def __init__(
        self,
        job_id: str,
        project: Project,
        org: Organization,
        roots: list[Root],
        settings: Settings,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.job_id, self.project, self.org = job_id, project, org
        self.roots, self.settings, self.progress = roots, settings, progress
        self.started = utcnow()
        self.live_connections = {root.connection_id for root in roots}
        self.tally = _Tally()
        self.changes = _Changes()
        self.candidates = _Candidates()
        kinds = frozenset(project.allowed_kinds) if project.allowed_kinds else None
        self.options = ProbeOptions.from_settings(settings, allowed_kinds=kinds)

    def run(self) -> None:
        with ThreadPoolExecutor(self.settings.import_concurrency) as pool:
            for root in self.roots:
                self._walk(root, pool)
        self._settle_gone_and_new()
        _finish(self.job_id, SUCCEEDED, tally=self.tally, changes=self.changes)

    # -- one root ---------------------------------------------------------------

    def _walk(self, root: Root, pool: ThreadPoolExecutor) -> None:
        with session_scope() as session:
            store = connections.open_store_by_id(
                session,
                connection_id=root.connection_id,
                org_id=self.org.id,
                location=root.location,
                settings=self.settings,
            )
        changed: list[tuple[Known, Listed]] = []
        retagged: list[dict[str, Any]] = []
        listed_here, gone_here = 0, 0
        for step, pair in enumerate(merge(self._listing(root, store), self._known(root))):
            listed, known = pair.listed, pair.known
            listed_here += listed is not None
            if step % 10_000 == 9_999:
                self._save()  # the heartbeat: a long walk is alive
            if known is not None and known.connection_id != root.connection_id:
                if known.connection_id in self.live_connections:
                    continue  # another live connection's asset: its own walk decides
            if known is not None:
                self.tally.checked += 1
            if listed is not None and known is not None:
                if known.same_bytes(listed.info) and known.status == ACTIVE:
                    self.tally.unchanged += 1
                    if known.etag != listed.info.etag:  # same bytes, written again
                        retagged.append({"asset_id": known.id, "etag": listed.info.etag})
                elif self._comes_back_or_changes(known, listed):
                    changed.append((known, listed))
            elif known is not None:
                # One imported since this reconcile began may be missing from a listing
                # page read before it was written: only older assets can be gone.
                if known.status == ACTIVE and known.created_at < self.started:
                    self.candidates.gone[known.fingerprint].append(known)
                    gone_here += 1
            elif listed is not None:
                self.candidates.new.append(listed)
            if len(changed) >= _PAGE:
                self._settle_changed(store, changed, pool)
                changed = []
            if len(retagged) >= _PAGE:
                _retag(retagged)
                retagged = []
        self._settle_changed(store, changed, pool)
        _retag(retagged)
        self._save()
        if gone_here and not listed_here:
            raise Conflict(
                f"the listing of {root.location.uri} came back empty, yet {gone_here} of its "
                "assets are in circulation; nothing was taken out of circulation",
                fix="if the store is reachable and the files really are gone, take them out with "
                'POST /v1/projects/{id}/assets/remove {"prefix": "' + root.location.uri + '"}; '
                "otherwise check the connection (an unmounted directory, a wrong bucket or "
                "endpoint) and reconcile again",
            )

    def _comes_back_or_changes(self, known: Known, listed: Listed) -> bool:
        """Whether a listed asset needs a look: changed in place, or removed but back."""
        return known.status == ACTIVE or known.may_come_back(listed.info, listed.root.connection_id)

    def _listing(self, root: Root, store: ObjectStore) -> Iterator[Listed]:
        for page in prefetched(store.list_pages(root.location.key, page_size=_PAGE)):
            self.tally.list_requests += 1
            for info in page.objects:
                if info.key.endswith("/"):
                    continue  # a folder marker
                uri = root.location.with_key(info.key).uri
                if not addressable(uri):
                    self.tally.failed += 1  # imports refuse it too: no URL can name it
                    continue
                yield Listed(uri, info, root)

    def _known(self, root: Root) -> Iterator[Known]:
        """The project's assets under ``root``, in byte order, a page at a time."""
        after: str | None = None
        while True:
            with session_scope() as session:
                location = in_byte_order(session, Asset.location)
                query = select(
                    Asset.id, Asset.location, Asset.status, Asset.removal_reason, Asset.etag,
                    Asset.size, Asset.connection_id, Asset.content_hash, Asset.created_at,
                ).where(
                    Asset.project_id == self.project.id,
                    Asset.location.startswith(root.location.uri, autoescape=True),
                )  # fmt: skip
                if after is not None:
                    query = query.where(location > after)
                rows = session.execute(query.order_by(location).limit(_PAGE)).all()
            for row in rows:
                yield Known(*row)
            if len(rows) < _PAGE:
                return
            after = rows[-1].location

    # -- changed files ----------------------------------------------------------

    def _settle_changed(
        self, store: ObjectStore, changed: list[tuple[Known, Listed]], pool: ThreadPoolExecutor
    ) -> None:
        """Re-probe what changed (or came back changed) and apply each outcome."""
        if not changed:
            return
        needs_probe = [(k, item) for k, item in changed if not k.same_bytes(item.info)]
        probed = dict(zip(
            [k.id for k, _ in needs_probe],
            pool.map(lambda pair: self._probe(store, pair[1].info), needs_probe),
            strict=True,
        ))  # fmt: skip
        self.tally.read_requests += sum(
            result.requests for result in probed.values() if isinstance(result, ProbeResult)
        )
        with session_scope() as session:
            for known, listed in changed:
                result = probed.get(known.id)
                if isinstance(result, InsituError):
                    # Left as it is; the next reconcile looks again.
                    log.warning("reconcile %s: %s: %s", self.job_id, listed.location, result)
                    self.tally.failed += 1
                    continue
                self._apply(session, known, listed, result)
        self._save()

    def _probe(self, store: ObjectStore, info: ObjectInfo) -> ProbeResult | InsituError:
        try:
            return probe_object(store, info, self.options)
        except InsituError as exc:  # vanished, unreadable, or a name no file can have
            return exc

    def _apply(
        self, session: Session, known: Known, listed: Listed, result: ProbeResult | None
    ) -> None:
        """Record what a listed asset's look found: new facts, a refusal, or its return."""
        if result is not None:
            self.tally.changed += 1
        left, back = lifecycle.record_look(
            session,
            asset_id=known.id,
            active=known.status == ACTIVE,
            was=(known.etag, known.size),
            info=listed.info,
            result=result,
            connection_id=listed.root.connection_id,
            by=BY,
        )
        self.tally.removed += len(left)
        self.tally.restored += len(back)
        self.changes.left(CHANGED_INVALID, left)
        self.changes.came_back(back)

    # -- after every root -------------------------------------------------------

    def _settle_gone_and_new(self) -> None:
        """Moves first (a gone asset's ETag and size listed elsewhere), then removals, then adds."""
        unmatched: list[Listed] = []
        with session_scope() as session:
            for listed in self.candidates.new:
                digest, size = listed.info.fingerprint
                gone = self.candidates.gone.get((digest, size))
                if gone and digest:
                    asset = gone.pop(0)
                    lifecycle.move(session, asset_id=asset.id, to=lifecycle.place(
                        listed.location,
                        listed.info,
                        bucket=listed.root.location.bucket,
                        connection_id=listed.root.connection_id,
                    ),
                                   moved_from=asset.location, by=BY)  # fmt: skip
                    self.tally.moved += 1
                else:
                    unmatched.append(listed)
            left = [asset.id for assets in self.candidates.gone.values() for asset in assets]
            for start in range(0, len(left), _PAGE):
                removed = lifecycle.remove_ids(
                    session, left[start : start + _PAGE], reason=MOVED_OR_DELETED, by=BY
                )
                self.tally.removed += len(removed)
                self.changes.left(MOVED_OR_DELETED, removed)
        self._save()
        if self.project.import_new_files:
            self._add([listed for listed in unmatched if listed.root.adds_new(listed.location)])

    def _add(self, new: list[Listed]) -> None:
        """Import new files as an import of exactly those files would."""
        from insitu.imports.pipeline import run_import

        by_root: dict[Root, list[str]] = defaultdict(list)
        for listed in new:
            by_root[listed.root].append(listed.info.key)
        for root, keys in by_root.items():
            for start in range(0, len(keys), _ADD_BATCH):
                with session_scope() as session:
                    job = imports.create(
                        session,
                        org=session.get_one(Organization, self.org.id),
                        project=session.get_one(Project, self.project.id),
                        data=ImportCreate(
                            source=root.location.uri,
                            connection_id=root.connection_id,
                            source_files=[
                                root.location.with_key(key).uri
                                for key in keys[start : start + _ADD_BATCH]
                            ],
                        ),  # fmt: skip
                        settings=self.settings,
                        enqueue=False,
                        actor=ACTOR,
                    )
                    import_id = job.id
                    _note_import(session, self.job_id, import_id)
                run_import(import_id, settings=self.settings)
                with session_scope() as session:
                    done = session.get_one(ImportJob, import_id)
                    self.tally.added += done.imported
                    self.tally.failed += done.failed
                    self.tally.read_requests += done.requests
                self._save()

    def _save(self) -> None:
        with session_scope() as session:
            session.execute(
                update(ReconcileJob)
                .where(ReconcileJob.id == self.job_id)
                .values(heartbeat_at=utcnow(), **self.tally.as_values())
            )
            if self.progress is not None:
                self.progress(session.get_one(ReconcileJob, self.job_id))


def _retag(rows: list[dict[str, Any]]) -> None:
    """Record new ETags of unchanged bytes, so the next reconcile matches them on the ETag."""
    if rows:
        with session_scope() as session:
            statement = (
                update(Asset)
                .where(Asset.id == bindparam("asset_id"))
                .values(etag=bindparam("etag"))
            )
            session.connection().execute(statement, rows)


def _same(known: Known, info: ObjectInfo) -> bool:
    return info.holds(etag=known.etag, content_hash=known.content_hash, size=known.size)


def _note_import(session: Session, job_id: str, import_id: str) -> None:
    job = get_one_for_update(session, ReconcileJob, job_id)
    job.import_ids = [*(job.import_ids or []), import_id]


def _out_of_order(exc: OutOfOrder) -> dict[str, Any]:
    return {
        "error": "listing_out_of_order",
        "detail": f"the reconcile stopped without removing anything: {exc}",
        "fix": "the store does not list keys in byte order, so insitu cannot compare it with "
        "the assets safely; report this store to the operator",
    }


def _claim(session: Session, job_id: str) -> bool:
    """Mark the job running if it is queued and its project has no other one running.

    One claimant wins any race; a job whose project is already being reconciled (two server
    processes scheduled it at once) is marked skipped, as the running one does its work.
    """
    job = session.get_one(ReconcileJob, job_id)
    lock_project(session, job.project_id)
    stale_before = utcnow() - STALE_AFTER
    other = aliased(ReconcileJob)
    running_elsewhere = exists().where(
        other.project_id == job.project_id,
        other.status == RUNNING,
        other.heartbeat_at >= stale_before,
        other.id != job_id,
    )
    claimed = session.execute(
        update(ReconcileJob)
        .where(
            ReconcileJob.id == job_id,
            # Queued, or left running by a worker that died (no heartbeat for minutes).
            or_(
                ReconcileJob.status == QUEUED,
                and_(ReconcileJob.status == RUNNING, ReconcileJob.heartbeat_at < stale_before),
            ),
            ~running_elsewhere,
        )
        .values(status=RUNNING, started_at=utcnow(), heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount:  # type: ignore[attr-defined]
        return True
    session.execute(
        update(ReconcileJob)
        .where(ReconcileJob.id == job_id, ReconcileJob.status == QUEUED)
        .values(status=SKIPPED, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return False


def _finish(
    job_id: str,
    status: str,
    *,
    tally: _Tally | None = None,
    error: dict[str, Any] | None = None,
    changes: _Changes | None = None,
) -> None:
    counts = tally.as_values() if tally is not None else {}
    with session_scope() as session:
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error}
        session.execute(
            update(ReconcileJob).where(ReconcileJob.id == job_id).values(**values, **counts)
        )
        job = session.get_one(ReconcileJob, job_id)
        # What left, moved or came back is in each asset's history; the log has the summary.
        audit.record(
            session,
            actor=ACTOR,
            action="reconcile.finished",
            org_id=job.org_id,
            target_type="project",
            target_id=job.project_id,
            outcome="ok" if status == SUCCEEDED else "failed",
            details={"reconcile_id": job_id, "error": (error or {}).get("error"), **counts},
        )
        # What a failed reconcile did before it stopped stays done, so it is announced too.
        if changes is not None:
            cause = {"by": BY, "project_id": job.project_id, "reconcile_id": job_id}
            webhooks.assets_removed(
                session, org_id=job.org_id, reasons=dict(changes.removed),
                asset_ids=changes.removed_ids, **cause,
            )  # fmt: skip
            webhooks.assets_restored(
                session, org_id=job.org_id, count=changes.restored,
                asset_ids=changes.restored_ids, **cause,
            )  # fmt: skip
        webhooks.reconcile_finished(session, job, counts=read(job).counts.model_dump())
