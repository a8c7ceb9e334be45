"""Engine, sessions and the declarative base; SQLite by default, PostgreSQL at scale."""

from __future__ import annotations

import base64
import binascii
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Engine,
    MetaData,
    Select,
    SQLColumnExpression,
    String,
    Table,
    and_,
    create_engine,
    event,
    make_url,
    or_,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from insitu.errors import InvalidInput

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """32 hex digits: the time in milliseconds (12), then 80 random bits (20).

    Unguessable like a uuid4, but in creation order, so rows inserted together (a page of
    assets, the audit rows of a batch of signed URLs) land side by side in the primary-key
    index instead of on a random page each: far fewer pages written per commit.
    """
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def new_ids(count: int) -> list[str]:
    """``count`` ids as ``new_id`` makes them, from one read of the random source."""
    prefix = f"{time.time_ns() // 1_000_000:012x}"
    random = os.urandom(10 * count).hex()
    return [prefix + random[at : at + 20] for at in range(0, 20 * count, 20)]


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use insitu.db.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class IdMixin:
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        _ensure_sqlite_file(url)
        # Enough pooled connections for the API's worker threads: an overflow connection is
        # opened (and its pragmas run) and closed again on every request that needs it.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=20,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _ensure_sqlite_file(url: str) -> None:
    """Create the database file readable by its owner only, before SQLite creates it.

    It holds encrypted secrets, API key hashes and the audit log. SQLite gives its -wal, -shm
    and -journal files the main file's mode, so they are 0600 too. An existing file keeps the
    mode its owner chose.
    """
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.fchmod(descriptor, 0o600)  # whatever the umask
    os.close(descriptor)


@lru_cache
def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for the configured database."""
    from insitu.config import get_settings

    return make_engine(url or get_settings().database_url)


@lru_cache
def _sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return _sessionmaker(engine or get_engine())


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session committed on success and rolled back on error.

    An error raised after the commit is done (by an after-commit hook, e.g. a job queue that
    does not answer) propagates as it is: there is nothing to roll back, and trying would
    hide it behind "session is in committed state".
    """
    session = session_factory(engine)()
    committed = False

    def _committed(_session: Session) -> None:
        nonlocal committed
        committed = True

    try:
        yield session
        # First of the after-commit hooks, so it runs before any that may raise.
        event.listen(session, "after_commit", _committed, insert=True)
        session.commit()
    except BaseException:
        if not committed:
            session.rollback()
        raise
    finally:
        session.close()


M = TypeVar("M", bound=IdMixin)


def get_for_update(session: Session, model: type[M], row_id: str) -> M | None:
    """``session.get`` holding the row's write lock until commit, on every database.

    PostgreSQL locks the row (FOR UPDATE). SQLite has no row locks and ignores FOR UPDATE, and
    a WAL transaction that reads first and writes later fails at once ("database is locked")
    when another connection wrote in between; so on SQLite a no-op UPDATE takes the database's
    write lock first (waiting out the busy timeout), and the read comes after it.
    """
    if session.get_bind().dialect.name == "sqlite":
        table: Table = model.__table__  # type: ignore[attr-defined]
        session.execute(update(table).where(table.c.id == row_id).values(id=table.c.id))
    return session.get(model, row_id, with_for_update=True, populate_existing=True)


def get_one_for_update(session: Session, model: type[M], row_id: str) -> M:
    """``get_for_update`` of a row that must exist."""
    row = get_for_update(session, model, row_id)
    if row is None:
        raise LookupError(f"{model.__name__} {row_id} does not exist")
    return row


@dataclass(frozen=True)
class NewestCursor:
    """Where a newest-first page ended: the last row's creation time and id, opaque to clients."""

    at: datetime
    id: str

    def encode(self) -> str:
        return base64.urlsafe_b64encode(f"{self.at.isoformat()}|{self.id}".encode()).decode()

    @classmethod
    def decode(cls, value: str) -> NewestCursor:
        try:
            at, _, row_id = base64.urlsafe_b64decode(value.encode()).decode().partition("|")
            cursor = cls(datetime.fromisoformat(at), row_id)
        except (binascii.Error, UnicodeError, ValueError):
            cursor = None
        if cursor is None or cursor.at.tzinfo is None or not row_id:
            raise InvalidInput(
                f"{value[:100]!r} is not a cursor of this list",
                fix="pass the 'next' of the previous page as 'after', unchanged",
            )
        return cursor


S = TypeVar("S", bound=Select[*tuple[Any, ...]])


def older_than(
    query: S, created_at: Any, row_id: Any, cursor: NewestCursor | None, limit: int
) -> S:
    """``query`` newest first (creation time, then id), below ``cursor``, ``limit`` rows."""
    if cursor is not None:
        # The first condition alone is an index range; the second breaks ties on the time.
        query = query.where(
            created_at <= cursor.at,
            or_(created_at < cursor.at, and_(created_at == cursor.at, row_id < cursor.id)),
        )
    return query.order_by(created_at.desc(), row_id.desc()).limit(limit)


def newest_first_page(
    session: Session, query: Select[M], model: type[M], *, after: str | None, limit: int
) -> tuple[Sequence[M], str | None]:
    """Up to ``limit`` rows of ``query``, newest first, stable while rows are added."""
    cursor = NewestCursor.decode(after) if after else None
    rows = session.scalars(older_than(query, model.created_at, model.id, cursor, limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    return rows, (NewestCursor(rows[-1].created_at, rows[-1].id).encode() if has_more else None)


def insert_ignoring_duplicates(
    session: Session, model: type[Base], rows: list[dict[str, object]], unique: list[str]
) -> list[str]:
    """Insert ``rows``, skipping any that clash on ``unique``; returns the ids that went in."""
    from insitu.bulk import insert_new

    table: Table = model.__table__  # type: ignore[assignment]
    return insert_new(session, table, rows, unique=unique)


def in_byte_order(session: Session, column: SQLColumnExpression[str]) -> ColumnElement[str]:
    """``column`` compared and sorted byte by byte (code point order), as object stores list.

    SQLite compares text that way already; PostgreSQL needs the "C" collation, since a
    database's locale collation may sort "B" before "a" or ignore punctuation.
    """
    if session.get_bind().dialect.name == "postgresql":
        return column.collate("C")
    return column  # type: ignore[return-value]
