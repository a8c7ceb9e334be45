"""Applying one batch of a connection's storage events to the projects that watch its prefixes.

An event only says *which* key to look at: what is applied is the object as it is now (one
HEAD), judged by the rules a reconcile uses, so a repeated, late or out-of-order event changes
nothing (the assets already say what the bucket says):

- present, with an asset holding the same bytes: unchanged;
- present, with an asset whose bytes changed: probed again from its header; new facts, or out
  of circulation as ``changed_invalid`` (with the reason and the fix);
- present, with an asset that left as ``moved_or_deleted`` (or ``changed_invalid`` and now
  different): back in circulation (``restored``), probed first if its bytes changed;
- present, with no asset, under a prefix import: imported (``added``) and counted on that
  import, or its refusal recorded among that import's failures;
- gone (HEAD 404), with an asset in circulation: out as ``moved_or_deleted`` by ``event``,
  unless an object that appeared in the same batch holds its bytes: then it **moved** there
  and keeps its id and labels.

A key's greatest ``sequencer`` so far is kept (``EventSequencer``): an event whose sequencer
is not greater is older or a repeat, and is skipped without a request. Everything one batch
does, sequencers included, is committed in one transaction; the caller acknowledges the
batch's messages only after that.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from insitu.assets import lifecycle
from insitu.assets.models import (
    ACTIVE,
    CHANGED_INVALID,
    CONNECTION_REMOVED,
    MOVED_OR_DELETED,
    Asset,
)
from insitu.bulk import upsert_insert
from insitu.config import Settings
from insitu.db import insert_ignoring_duplicates, new_id, session_scope, utcnow
from insitu.errors import InsituError, ObjectNotFound, StorageUnreachable
from insitu.imports.models import CANCELED, ImportFailure, ImportJob
from insitu.media import ProbeOptions, ProbeResult, probe_object
from insitu.projects.models import Project
from insitu.reconcile.runner import Known, Root, roots_of
from insitu.storage.base import Location, ObjectInfo, ObjectStore, StorageEvent
from insitu.storage.registry import addressable
from insitu.watch.models import EventSequencer, ProjectWatch
from insitu.webhooks import service as webhooks

log = logging.getLogger(__name__)

BY = "event"

StoreOpener = Callable[[Location], ObjectStore]


@dataclass(frozen=True)
class Watched:
    """One watched project's root on this connection, and the import new files count on."""

    project_id: str
    org_id: str
    root: Root
    options: ProbeOptions
    import_new_files: bool
    # The newest live prefix import under the root: new files are added as part of it.
    import_id: str | None


@dataclass
class Applied:
    """What one batch did."""

    events: int = 0
    skipped: int = 0  # older than, or the same as, what was applied for the key
    unchanged: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    restored: int = 0
    moved: int = 0
    failed: int = 0
    requests: int = 0

    def total(self) -> int:
        return self.added + self.changed + self.removed + self.restored + self.moved


@dataclass
class _Changes:
    """One project's assets that left or came back in a batch, for its webhooks."""

    org_id: str
    removed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    restored: list[str] = field(default_factory=list)


@dataclass
class _Look:
    """One watched project's view of one key: its asset, if any, and the object now."""

    watched: Watched
    location: str
    info: ObjectInfo | None
    known: Known | None


@dataclass
class _Plan:
    probe: list[_Look] = field(default_factory=list)
    add: list[_Look] = field(default_factory=list)
    gone: list[_Look] = field(default_factory=list)
    restore: list[_Look] = field(default_factory=list)
    retag: list[_Look] = field(default_factory=list)


def watched_roots(session: Session, *, connection_id: str, settings: Settings) -> list[Watched]:
    """Every root that a watching project imported from through ``connection_id``."""
    # Only projects that imported through this connection: every watched project of every org
    # would cost a query of roots each, on every batch of every queue.
    through_it = (
        select(ImportJob.id)
        .where(ImportJob.project_id == Project.id, ImportJob.connection_id == connection_id)
        .exists()
    )
    projects = session.scalars(
        select(Project).join(ProjectWatch, ProjectWatch.project_id == Project.id).where(through_it)
    ).all()
    found = []
    for project in projects:
        kinds = frozenset(project.allowed_kinds) if project.allowed_kinds else None
        options = ProbeOptions.from_settings(settings, allowed_kinds=kinds)
        for root in roots_of(session, project=project):
            if root.connection_id != connection_id:
                continue
            found.append(
                Watched(
                    project.id,
                    project.org_id,
                    root,
                    options,
                    project.import_new_files,
                    _import_of(session, project.id, root),
                )
            )
    return found


def _import_of(session: Session, project_id: str, root: Root) -> str | None:
    if not root.adds:
        return None
    return session.scalar(
        select(ImportJob.id)
        .where(
            ImportJob.project_id == project_id,
            ImportJob.connection_id == root.connection_id,
            ImportJob.source.in_(root.adds),
            ImportJob.status != CANCELED,
        )
        .order_by(ImportJob.created_at.desc())
        .limit(1)
    )


class BatchApplier:
    """Applies batches of one connection's events; ``open_store`` opens a bucket's store."""

    def __init__(
        self,
        *,
        connection_id: str,
        settings: Settings,
        open_store: StoreOpener,
        pool: ThreadPoolExecutor,
    ) -> None:
        self.connection_id, self.settings = connection_id, settings
        self.open_store, self.pool = open_store, pool

    def apply(self, events: Sequence[StorageEvent]) -> Applied:
        """Apply ``events`` and commit; raises (committing nothing) if the store is unreachable."""
        applied = Applied(events=len(events))
        if not events:
            return applied
        with session_scope() as session:
            watched = watched_roots(
                session, connection_id=self.connection_id, settings=self.settings
            )
            newest = self._newest_per_key(session, events, applied)
        if not watched or not newest:
            return applied
        looks = self._look(watched, newest, applied)
        plan = self._plan(looks, applied)
        fresh = [look for look in plan.add if look.known is None]  # moves need no probe
        probed = self._probe(plan.probe + fresh, applied)
        with session_scope() as session:
            self._commit(session, plan, probed, applied)
            self._keep_sequencers(session, newest)
        return applied

    # -- which keys ---------------------------------------------------------------

    def _newest_per_key(
        self, session: Session, events: Sequence[StorageEvent], applied: Applied
    ) -> dict[tuple[str, str], str | None]:
        """Each key's greatest sequencer in the batch, minus keys with nothing newer."""
        newest: dict[tuple[str, str], str | None] = {}
        for event in events:
            where = (event.bucket, event.key)
            if where in newest:
                applied.skipped += 1  # the same key again in this batch: looked at once
            seen = newest.get(where)
            newest[where] = (
                max(seen, event.sequencer)
                if seen and event.sequencer
                else (seen or event.sequencer)
            )
        stored = self._stored_sequencers(session, list(newest))
        for where, sequencer in list(newest.items()):
            last = stored.get(where)
            if sequencer is not None and last is not None and sequencer <= last:
                del newest[where]
                applied.skipped += 1
        return newest

    def _stored_sequencers(
        self, session: Session, keys: list[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        rows = session.execute(
            select(EventSequencer.bucket, EventSequencer.key, EventSequencer.sequencer).where(
                EventSequencer.connection_id == self.connection_id,
                EventSequencer.key.in_({key for _, key in keys}),
            )
        ).all()
        wanted = set(keys)
        return {(b, k): s for b, k, s in rows if (b, k) in wanted}

    # -- what is there now --------------------------------------------------------

    def _look(
        self,
        watched: list[Watched],
        newest: dict[tuple[str, str], str | None],
        applied: Applied,
    ) -> list[_Look]:
        pending: list[tuple[Watched, str, str]] = []  # (watched, bucket key, location)
        for bucket, key in newest:
            for item in watched:
                root = item.root.location
                if root.bucket != bucket or not key.startswith(root.key):
                    continue
                uri = root.with_key(key).uri
                if key.endswith("/") or not addressable(uri):
                    continue  # a folder marker, or a key no URL can name: imports skip it too
                pending.append((item, key, uri))
        wanted = {(item.root.location.with_key(""), key) for item, key, _ in pending}
        heads = dict(zip(wanted, self.pool.map(self._head, wanted), strict=True))
        applied.requests += len(heads)
        knowns = self._knowns(pending)
        looks = []
        for item, key, uri in pending:
            head = heads[(item.root.location.with_key(""), key)]
            if isinstance(head, InsituError):
                log.warning("event on %s: HEAD failed: %s", uri, head.detail)
                applied.failed += 1
                continue
            looks.append(_Look(item, uri, head, knowns.get((item.project_id, uri))))
        return looks

    def _head(self, where: tuple[Location, str]) -> ObjectInfo | InsituError | None:
        bucket, key = where
        try:
            return self.open_store(bucket).head(key)
        except ObjectNotFound:
            return None
        except StorageUnreachable:
            raise  # nothing is committed; the messages come back and are tried again
        except InsituError as exc:
            return exc

    def _knowns(self, pending: list[tuple[Watched, str, str]]) -> dict[tuple[str, str], Known]:
        by_project: dict[str, set[str]] = defaultdict(set)
        for item, _, uri in pending:
            by_project[item.project_id].add(uri)
        found: dict[tuple[str, str], Known] = {}
        with session_scope() as session:
            for project_id, uris in by_project.items():
                rows = session.execute(
                    select(
                        Asset.id,
                        Asset.location,
                        Asset.status,
                        Asset.removal_reason,
                        Asset.etag,
                        Asset.size,
                        Asset.connection_id,
                        Asset.content_hash,
                        Asset.created_at,
                    ).where(Asset.project_id == project_id, Asset.location.in_(uris))
                ).all()
                for row in rows:
                    found[(project_id, row.location)] = Known(*row)
        return found

    # -- what to do ---------------------------------------------------------------

    def _plan(self, looks: list[_Look], applied: Applied) -> _Plan:
        plan = _Plan()
        for look in looks:
            known, info = look.known, look.info
            if known is not None and not self._ours(known):
                continue  # read through another live connection: its own events decide
            if info is None:
                if known is not None and known.status == ACTIVE:
                    plan.gone.append(look)
                else:
                    applied.unchanged += 1
            elif known is None:
                if look.watched.import_new_files and look.watched.root.adds_new(look.location):
                    plan.add.append(look)
            elif known.status == ACTIVE:
                if known.same_bytes(info):
                    applied.unchanged += 1
                    if known.etag != info.etag:
                        plan.retag.append(look)  # same bytes written again
                else:
                    plan.probe.append(look)
            elif known.may_come_back(info, self.connection_id):
                (plan.restore if known.same_bytes(info) else plan.probe).append(look)
            else:
                applied.unchanged += 1  # canceled, or still the refused bytes
        self._match_moves(plan)
        return plan

    def _ours(self, known: Known) -> bool:
        return known.connection_id == self.connection_id or known.reason == CONNECTION_REMOVED

    @staticmethod
    def _match_moves(plan: _Plan) -> None:
        """A gone asset whose bytes appeared at a new key of its project in this batch moved."""
        gone: dict[tuple[str, str | None, int | None], list[_Look]] = defaultdict(list)
        for look in plan.gone:
            assert look.known is not None
            gone[(look.watched.project_id, *look.known.fingerprint)].append(look)
        for look in plan.add:
            assert look.info is not None
            digest, size = look.info.fingerprint
            match = gone.get((look.watched.project_id, digest, size))
            if digest and match:
                origin = match.pop(0)
                plan.gone.remove(origin)
                look.known = origin.known  # the asset moves here instead of leaving

    def _probe(self, looks: list[_Look], applied: Applied) -> dict[int, ProbeResult | InsituError]:
        def probe(look: _Look) -> ProbeResult | InsituError:
            assert look.info is not None
            root = look.watched.root.location
            try:
                return probe_object(
                    self.open_store(root.with_key("")), look.info, look.watched.options
                )
            except InsituError as exc:
                return exc

        results = dict(zip((id(look) for look in looks), self.pool.map(probe, looks), strict=True))
        applied.requests += sum(r.requests for r in results.values() if isinstance(r, ProbeResult))
        return results

    # -- the one transaction --------------------------------------------------------

    def _commit(
        self,
        session: Session,
        plan: _Plan,
        probed: dict[int, ProbeResult | InsituError],
        applied: Applied,
    ) -> None:
        changes: dict[str, _Changes] = {}
        for look in plan.gone:
            assert look.known is not None
            removed = lifecycle.remove_ids(session, [look.known.id], reason=MOVED_OR_DELETED, by=BY)
            _changes_of(changes, look).removed[MOVED_OR_DELETED].extend(removed)
            applied.removed += len(removed)
        for look in plan.restore:
            assert look.known is not None and look.info is not None
            values = {"connection_id": self.connection_id, "etag": look.info.etag}
            restored = lifecycle.restore_ids(session, [look.known.id], by=BY, values=values)
            _changes_of(changes, look).restored.extend(restored)
            applied.restored += len(restored)
        for look in plan.retag:
            assert look.known is not None and look.info is not None
            session.execute(
                update(Asset).where(Asset.id == look.known.id).values(etag=look.info.etag)
            )
        for look in plan.probe:
            self._apply_probed(session, look, probed[id(look)], applied, changes)
        self._add(session, plan.add, probed, applied)
        _announce(session, changes)

    def _apply_probed(
        self,
        session: Session,
        look: _Look,
        result: ProbeResult | InsituError,
        applied: Applied,
        changes: dict[str, _Changes],
    ) -> None:
        known, info = look.known, look.info
        assert known is not None and info is not None
        if isinstance(result, InsituError):
            log.warning("event on %s: probing failed: %s", look.location, result.detail)
            applied.failed += 1  # left as it is; a later event or reconcile looks again
            return
        applied.changed += 1
        removed, restored = lifecycle.record_look(
            session,
            asset_id=known.id,
            active=known.status == ACTIVE,
            was=(known.etag, known.size),
            info=info,
            result=result,
            connection_id=self.connection_id,
            by=BY,
        )
        _changes_of(changes, look).removed[CHANGED_INVALID].extend(removed)
        _changes_of(changes, look).restored.extend(restored)
        applied.removed += len(removed)
        applied.restored += len(restored)

    def _add(
        self,
        session: Session,
        looks: list[_Look],
        probed: dict[int, ProbeResult | InsituError],
        applied: Applied,
    ) -> None:
        by_import: dict[str | None, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = (
            defaultdict(lambda: ([], []))
        )
        for look in looks:
            info, watched = look.info, look.watched
            assert info is not None
            if look.known is not None:  # a gone asset's bytes, found here: it moved
                lifecycle.move(
                    session,
                    asset_id=look.known.id,
                    to=lifecycle.place(
                        look.location,
                        info,
                        bucket=look.watched.root.location.bucket,
                        connection_id=look.watched.root.connection_id,
                    ),
                    moved_from=look.known.location,
                    by=BY,
                )
                applied.moved += 1
                continue
            rows, failures = by_import[watched.import_id]
            result = probed[id(look)]
            failure = _failure_of(result)
            if failure is None:
                assert isinstance(result, ProbeResult) and result.facts is not None
                rows.append(_asset_row(look, info, result))
            else:
                code, message, fix = failure
                failures.append(
                    {
                        "id": new_id(),
                        "created_at": utcnow(),
                        "job_id": watched.import_id,
                        "location": look.location,
                        "code": code,
                        "message": message,
                        "fix": fix,
                    }
                )
        for import_id, (rows, failures) in by_import.items():
            added = lifecycle.add_imported(session, rows, by=BY)
            applied.added += added
            applied.failed += len(failures)
            if import_id is None:
                for row in failures:
                    log.warning("event on %s: %s", row["location"], row["message"])
                continue
            failed = insert_ignoring_duplicates(
                session, ImportFailure, failures, ["job_id", "location"]
            )
            session.execute(
                update(ImportJob)
                .where(ImportJob.id == import_id)
                .values(imported=ImportJob.imported + added, failed=ImportJob.failed + len(failed))
            )

    def _keep_sequencers(self, session: Session, newest: dict[tuple[str, str], str | None]) -> None:
        rows = [
            {
                "id": new_id(),
                "created_at": utcnow(),
                "updated_at": utcnow(),
                "connection_id": self.connection_id,
                "bucket": bucket,
                "key": key,
                "sequencer": sequencer,
            }
            for (bucket, key), sequencer in newest.items()
            if sequencer is not None
        ]
        if not rows:
            return
        statement = upsert_insert(session)(EventSequencer)
        statement = statement.on_conflict_do_update(
            index_elements=["connection_id", "bucket", "key"],
            set_={
                "sequencer": statement.excluded.sequencer,
                "updated_at": statement.excluded.updated_at,
            },
            # Two consumers never run at once, but a slow one must never move a key backwards.
            where=EventSequencer.sequencer < statement.excluded.sequencer,
        )
        session.execute(statement, rows)


def _changes_of(changes: dict[str, _Changes], look: _Look) -> _Changes:
    watched = look.watched
    return changes.setdefault(watched.project_id, _Changes(watched.org_id))


def _announce(session: Session, changes: dict[str, _Changes]) -> None:
    """``assets.removed`` and ``assets.restored`` once per project per batch, as a reconcile
    sends them once per run: a receiver mirroring circulation must hear of events' changes."""
    for project_id, change in changes.items():
        webhooks.assets_removed(
            session,
            org_id=change.org_id,
            reasons={reason: len(ids) for reason, ids in change.removed.items()},
            asset_ids=[i for ids in change.removed.values() for i in ids],
            by=BY,
            project_id=project_id,
        )
        webhooks.assets_restored(
            session,
            org_id=change.org_id,
            count=len(change.restored),
            asset_ids=change.restored,
            by=BY,
            project_id=project_id,
        )


def _failure_of(result: ProbeResult | InsituError) -> tuple[str, str, str | None] | None:
    if isinstance(result, InsituError):
        return result.code, result.detail, result.fix
    if result.failure is not None:
        return result.failure.code, result.failure.reason, result.failure.fix
    return None


def _asset_row(look: _Look, info: ObjectInfo, result: ProbeResult) -> dict[str, Any]:
    assert result.facts is not None
    watched, now = look.watched, utcnow()
    return {
        "id": new_id(),
        "created_at": now,
        "updated_at": now,
        "status": ACTIVE,
        "org_id": watched.org_id,
        "project_id": watched.project_id,
        "connection_id": watched.root.connection_id,
        "import_job_id": watched.import_id,
        "location": look.location,
        "provider": watched.root.location.provider,
        "bucket": watched.root.location.bucket,
        "key": info.key,
        **lifecycle.fact_columns(result.facts, info),
    }
