"""Probing one batch's files and turning the outcomes into rows to write."""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from insitu.assets import lifecycle
from insitu.assets.models import Asset
from insitu.bulk import one_of
from insitu.db import new_id, new_ids, utcnow
from insitu.errors import InsituError, ObjectNotFound, StorageError
from insitu.media import ProbeOptions, ProbeResult, probe_object, reads_past
from insitu.storage.base import Location, ObjectInfo, ObjectStore, no_heads
from insitu.storage.registry import check_key
from insitu.storage.transient import is_transient

log = logging.getLogger(__name__)

T = TypeVar("T")
# How long a batch waits for its heads before reading each file on its own: far longer than
# any request's own timeout, a bound only should the reading thread be stuck.
HEADS_TIMEOUT = 120.0

# A batch holds listed objects as these small dicts (or named keys as plain strings).
Item = ObjectInfo | str


def encode(info: ObjectInfo) -> dict[str, Any]:
    row: dict[str, Any] = {"k": info.key, "s": info.size}
    if info.etag is not None:
        row["e"] = info.etag
    if info.content_hash is not None:
        row["h"] = info.content_hash
    if info.version is not None:
        row["v"] = info.version
    if info.last_modified is not None:
        row["m"] = info.last_modified.isoformat()
    return row


def decode(row: dict[str, Any] | str) -> Item:
    if isinstance(row, str):
        return row
    modified = row.get("m")
    return ObjectInfo(
        key=row["k"],
        size=row["s"],
        etag=row.get("e"),
        content_hash=row.get("h"),
        version=row.get("v"),
        last_modified=datetime.fromisoformat(modified) if modified else None,
    )


def key_of(item: Item) -> str:
    return item if isinstance(item, str) else item.key


@dataclass
class Outcome:
    """What happened to one file of a batch."""

    item: Item
    location: str
    info: ObjectInfo | None = None
    result: ProbeResult | None = None
    failure: tuple[str, str, str | None] | None = None  # code, message, fix
    present: bool = False  # already an asset of the project
    transient: StorageError | None = None  # the store was busy: try the file again later


@dataclass
class Tally:
    assets: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    present: dict[str, ObjectInfo] = field(default_factory=dict)  # location: as listed
    retry: list[Item] = field(default_factory=list)
    retry_error: StorageError | None = None
    bytes_read: int = 0
    requests: int = 0


@dataclass
class Started:
    """A batch whose files' heads are on their way; ``Prober.finish`` probes it."""

    items: list[Item]
    uris: list[str]
    present: set[str]  # locations that are assets of the project already
    todo: list[tuple[Item, str]]  # the others, with their locations
    heads: Future[dict[str, bytes]]


class Prober:
    """Probes the files of one import's source, a batch at a time: ``start`` sends for the
    files' heads, ``finish`` probes them, so a worker can start its next batch in between."""

    def __init__(self, store: ObjectStore, location: Location, options: ProbeOptions) -> None:
        self.store = store
        self.location = location
        self.options = options

    def start(self, session: Session, project_id: str, items: list[Item]) -> Started:
        """Look up which files are assets already, and send for the others' heads."""
        uris = [self.location.with_key(key_of(item)).uri for item in items]
        present = set(
            session.scalars(
                select(Asset.location).where(
                    Asset.project_id == project_id, one_of(session, Asset.location, uris)
                )
            )
        )
        session.close()  # no connection held while the store is read
        todo = [(item, uri) for item, uri in zip(items, uris, strict=True) if uri not in present]
        return Started(items, uris, present, todo, self._read_heads([item for item, _ in todo]))

    def finish(self, started: Started, pool: ThreadPoolExecutor, *, workers: int) -> list[Outcome]:
        """Every file's outcome, probed ``workers`` at a time once its head is in."""
        try:
            heads = started.heads.result(timeout=HEADS_TIMEOUT)
        except TimeoutError:
            started.heads.cancel()  # what was not sent yet never is
            heads = {}  # read below, one by one
        todo = started.todo
        # Most files are probed from their head alone, here: no thread wakes up for them.
        # The rest (and files whose head was not read) go to the pool, which reads on.
        done = [self._probe_head(item, uri, heads.get(key_of(item))) for item, uri in todo]
        rest = [index for index, outcome in enumerate(done) if outcome is None]

        def probe_rest(index: int) -> Outcome:
            item, uri = todo[index]
            return self.probe_one(item, uri, head=heads.get(key_of(item)))

        for index, outcome in zip(rest, _each(pool, workers, probe_rest, rest), strict=True):
            done[index] = outcome
        outcomes: list[Outcome] = done  # type: ignore[assignment]  # every slot filled now
        # Present already: kept with what the listing said, to bring back assets whose
        # connection was deleted if the bytes are still the same (``lifecycle.take_over``).
        for item, uri in zip(started.items, started.uris, strict=True):
            if uri in started.present:
                info = item if isinstance(item, ObjectInfo) else ObjectInfo(key=item, size=-1)
                outcomes.append(Outcome(item, uri, info=info, present=True))
        return outcomes

    def _read_heads(self, items: list[Item]) -> Future[dict[str, bytes]]:
        """The first request of every listed file's probe, sent together where the store can
        (``ObjectStore.read_heads``)."""
        first = min(self.options.read_ahead, self.options.byte_budget)
        wants = [
            (item.key, min(item.size, first))
            for item in items
            if isinstance(item, ObjectInfo) and item.size > 0
        ]
        return self.store.read_heads(wants) if wants else no_heads()

    def _probe_head(self, item: Item, uri: str, head: bytes | None) -> Outcome | None:
        """``item``'s outcome from its head alone, or None if it takes more (another read, a
        refused name, anything odd): then ``probe_one`` probes it, and words any error."""
        if head is None or not isinstance(item, ObjectInfo) or reads_past(head, item.size):
            return None
        store = _HeadOnly()
        try:
            check_key(self.location, item.key)
            result = probe_object(store, item, self.options, head=head)  # type: ignore[arg-type]
        except Exception:
            return None
        return None if store.asked else Outcome(item, uri, info=item, result=result)

    def probe_one(self, item: Item, uri: str, *, head: bytes | None = None) -> Outcome:
        named = isinstance(item, str)
        key = key_of(item)
        try:
            # A key no URL can name ("a/./b", a control character) is refused.
            check_key(self.location, key)
            info = self.store.head(key) if isinstance(item, str) else item
            return Outcome(
                item, uri, info=info, result=probe_object(self.store, info, self.options, head=head)
            )
        except ObjectNotFound as exc:
            message = (
                f"{uri} does not exist"
                if named
                else f"{uri} was listed but is gone: it was moved or deleted during the import"
            )
            fix = "check the file name, or upload the file, then import again"
            return _failed(item, uri, "object_not_found", message, exc.fix or fix)
        except StorageError as exc:
            if is_transient(exc):
                return Outcome(item, uri, transient=exc)
            return _failed(item, uri, exc.code, exc.detail, exc.fix)
        except InsituError as exc:  # e.g. InvalidLocation: a name no file can have
            return _failed(item, uri, exc.code, exc.detail, exc.fix)
        except Exception as exc:  # one bad file must not stop millions of others
            log.exception("probing %s failed", uri)
            message = f"insitu could not probe {uri} ({type(exc).__name__})"
            fix = "import it again later; if it keeps failing, send the server log to the operator"
            return _failed(item, uri, "internal_error", message, fix)


class _PastHead(StorageError):
    """A probe wanted more than the head it was given."""


class _HeadOnly:
    """The store a probe from the head alone sees: any read is past the head, and refused."""

    asked = False

    def get_range(self, key: str, start: int, end: int) -> bytes:
        self.asked = True
        raise _PastHead(f"{key}: bytes {start}-{end} were not read with the head")


def _each(
    pool: ThreadPoolExecutor, workers: int, work: Callable[[T], Outcome], items: list[T]
) -> list[Outcome]:
    """``work`` on every item, ``workers`` at a time, results in order. Each of the pool's
    threads takes items one after the other from a shared queue: one Future per thread, not
    one (with its lock and condition) per file, and no Python lock that 256 threads contend
    for (``SimpleQueue`` is C, and never blocks here: every item is in it first)."""
    results: list[Outcome | None] = [None] * len(items)
    pending: queue.SimpleQueue[tuple[int, T]] = queue.SimpleQueue()
    for taken in enumerate(items):
        pending.put(taken)

    def drain() -> None:
        while True:
            try:
                index, item = pending.get_nowait()
            except queue.Empty:
                return
            results[index] = work(item)

    for future in [pool.submit(drain) for _ in range(min(workers, len(items)))]:
        future.result()
    return results  # type: ignore[return-value]  # every slot was filled


def tally(outcomes: list[Outcome], *, location: Location, job: Any) -> Tally:
    """The rows one batch writes: new assets, failures, files already present, files to retry."""
    result = Tally()
    now = utcnow()
    ids = iter(new_ids(len(outcomes)))
    for outcome in outcomes:
        if outcome.present:
            assert outcome.info is not None
            result.present[outcome.location] = outcome.info
            continue
        if outcome.transient is not None:
            result.retry.append(outcome.item)
            result.retry_error = outcome.transient
            continue
        if outcome.result is not None:
            result.bytes_read += outcome.result.bytes_read
            result.requests += outcome.result.requests
            failure = outcome.result.failure
            if failure is not None:
                outcome.failure = (failure.code, failure.reason, failure.fix)
        if outcome.failure is not None:
            code, message, fix = outcome.failure
            result.failures.append(failure_row(job.id, outcome.location, code, message, fix))
            continue
        result.assets.append(_asset_row(outcome, location, job, next(ids), now))
    return result


def failure_row(
    job_id: str, location: str, code: str, message: str, fix: str | None
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "created_at": utcnow(),
        "job_id": job_id,
        "location": location,
        "code": code,
        "message": message,
        "fix": fix,
    }


def _failed(item: Item, uri: str, code: str, message: str, fix: str | None) -> Outcome:
    return Outcome(item, uri, failure=(code, message, fix))


def _asset_row(
    outcome: Outcome, location: Location, job: Any, asset_id: str, now: datetime
) -> dict[str, Any]:
    assert outcome.result is not None and outcome.result.facts is not None
    assert outcome.info is not None
    return {
        "id": asset_id,
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
