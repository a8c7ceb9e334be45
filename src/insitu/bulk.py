"""Many rows or values at once with little client CPU (an import page of assets, their events).

On PostgreSQL the rows go in as one array per column through ``unnest``: one short statement
whose text never changes, so psycopg converts it once and adapts each column's list in C.
SQLAlchemy's multi-row VALUES (``insertmanyvalues``) instead builds a statement with one
placeholder per value, which psycopg re-parses on every page (too long for its statement
cache): that cost more client CPU per imported file than probing the file did.
On SQLite the rows go in as tuples through the driver's ``executemany``, which binds them in
C. SQLAlchemy's Core insert processes every value in Python on its way (each datetime, each
JSON document), about a third of an import's Python CPU on SQLite; here the values are
converted a column at a time, as SQLAlchemy's bind processing would convert them one by one.
Other databases, and tables these plans cannot take, go through SQLAlchemy's Core insert.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Float,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    cast,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from insitu.db import UTCDateTime

Rows = Sequence[dict[str, Any]]


def insert_new(session: Session, table: Table, rows: Rows, *, unique: Sequence[str]) -> list[str]:
    """Insert ``rows`` (all with the same keys) into ``table``, skipping any that clash on the
    ``unique`` columns; returns the ids that went in."""
    if not rows:
        return []
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name == "postgresql":
        plan = _plan(table, tuple(rows[0]), tuple(unique), dialect)
        return [row[0] for row in plan.run(connection, rows)]
    many = _many_plan(table, tuple(rows[0]), tuple(unique), dialect)
    if many is not None:
        return many.insert_new(connection, rows)
    statement = _dialect_insert(dialect.name)(table).on_conflict_do_nothing(
        index_elements=list(unique)
    )
    result = connection.execute(statement.returning(table.c.id), list(rows))
    return list(result.scalars().all())


def insert_all(session: Session, table: Table, rows: Rows) -> None:
    """Insert ``rows`` (all with the same keys) into ``table``."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name == "postgresql":
        _plan(table, tuple(rows[0]), None, dialect).run(connection, rows)
        return
    many = _many_plan(table, tuple(rows[0]), None, dialect)
    if many is not None:
        many.insert(connection, rows)
        return
    connection.execute(insert(table), list(rows))


def one_of(session: Session, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """``column IN values`` for many text values, as one JSON parameter, not a placeholder
    per value: SQLAlchemy renders and binds each one, and psycopg re-parses such a statement
    in Python every time. A value holding NUL matches nothing: PostgreSQL's text holds none,
    and SQLite's json_each would cut it there and match a shorter one."""
    kept = [value for value in values if "\x00" not in value]
    document = bindparam("values", json.dumps(kept), type_=Text, unique=True)
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import JSON as PG_JSON

        listed = func.json_array_elements_text(cast(document, PG_JSON)).column_valued("value")
        return column.in_(select(listed))  # type: ignore[no-any-return]
    rows = func.json_each(document).table_valued("value")  # SQLite
    return column.in_(select(rows.c.value))  # type: ignore[no-any-return]


def upsert_insert(session: Session) -> Any:
    """The database's own ``insert``, which knows ``on_conflict_do_update`` / ``_nothing``."""
    return _dialect_insert(session.get_bind().dialect.name)


def _dialect_insert(name: str) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if name == "postgresql" else sqlite.insert


Converters = list[tuple[str, Callable[[list[Any]], list[Any]]]]
Fillers = list[Callable[[int], list[Any]]]


class _Columns:
    """The rows' values converted a column at a time, then the left-out columns' defaults."""

    def __init__(self, columns: Converters, defaults: Fillers) -> None:
        self.columns = columns
        self.defaults = defaults

    def arrays(self, rows: Rows) -> tuple[list[Any], ...]:
        """One list per column, in the statement's order."""
        arrays = [convert([row[name] for row in rows]) for name, convert in self.columns]
        arrays += [fill(len(rows)) for fill in self.defaults]
        return tuple(arrays)


class _Plan(_Columns):
    def __init__(self, sql: str, columns: Converters, defaults: Fillers,
                 json_sql: str | None) -> None:  # fmt: skip
        super().__init__(columns, defaults)
        self.sql = sql
        self.json_sql = json_sql

    def run(self, connection: Any, rows: Rows) -> Any:
        """Execute the statement for ``rows``: as one JSON document when they can be (psycopg
        dumps an array in Python, value by value; json.dumps is C), else as arrays."""
        if self.json_sql is not None:
            text = json.dumps(rows, default=_json_default, check_circular=False)
            if "NaN" not in text and "Infinity" not in text:  # not JSON: arrays take them
                return connection.exec_driver_sql(self.json_sql, (text,))
        return connection.exec_driver_sql(self.sql, self.arrays(rows))


@lru_cache(maxsize=64)
def _plan(table: Table, names: tuple[str, ...], unique: tuple[str, ...] | None,
          dialect: Dialect) -> _Plan:  # fmt: skip
    quote = dialect.identifier_preparer.quote
    columns: Converters = []
    targets: list[Column[Any]] = []
    for name in names:
        column = table.c[name]
        columns.append((name, _converter(column, dialect)))
        targets.append(column)
    # Columns the rows leave out but whose Python-side default SQLAlchemy would have filled.
    defaults: Fillers = []
    for column in table.c:
        if column.name in names or column.default is None:
            continue
        defaults.append(_default_filler(column, dialect))
        targets.append(column)
    arrays, picked = [], []
    for column in targets:
        is_json = isinstance(column.type, JSON)
        kind = column.type.compile(dialect=dialect)
        # JSON goes in as text (there is no array of json in psycopg's adaptation), cast back.
        arrays.append("%s::text[]" if is_json else f"%s::{kind}[]")
        picked.append(f"t.{quote(column.name)}::{kind}" if is_json else f"t.{quote(column.name)}")
    listed = ", ".join(quote(column.name) for column in targets)
    sql = (
        f"INSERT INTO {quote(table.name)} ({listed}) "
        f"SELECT {', '.join(picked)} FROM unnest({', '.join(arrays)}) AS t({listed})"
    )
    tail = ""
    if unique is not None:
        tail = f" ON CONFLICT ({', '.join(quote(name) for name in unique)}) DO NOTHING"
        tail += f" RETURNING {quote('id')}"
    return _Plan(sql + tail, columns, defaults, _json_sql(table, names, defaults, dialect, tail))


def _json_sql(table: Table, names: tuple[str, ...], defaults: list[Any], dialect: Dialect,
              tail: str) -> str | None:  # fmt: skip
    """The same insert taking the rows as one JSON array of objects (json_to_recordset), for
    rows that name every column with a Python-side default and hold only JSON-able values."""
    if defaults:
        return None
    quote = dialect.identifier_preparer.quote
    declared, picked = [], []
    for name in names:
        column = table.c[name]
        if not isinstance(column.type, (String, Integer, Float, UTCDateTime, JSON)):
            return None  # a type whose bind processing this does not repeat: arrays
        kind = column.type.compile(dialect=dialect)
        declared.append(f"{quote(name)} {kind}")
        if isinstance(column.type, JSON):
            # json_to_recordset turns JSON null into SQL NULL; Core stores JSON null.
            none = "NULL" if column.type.none_as_null else f"'null'::{kind}"
            picked.append(f"COALESCE(t.{quote(name)}, {none})")
        else:
            picked.append(f"t.{quote(name)}")
    listed = ", ".join(quote(name) for name in names)
    return (
        f"INSERT INTO {quote(table.name)} ({listed}) SELECT {', '.join(picked)} "
        f"FROM json_to_recordset(%s::json) AS t({', '.join(declared)}){tail}"
    )


class _ManyPlan(_Columns):
    """An ``INSERT ... VALUES (?, ...)`` the driver runs for every row in C (executemany)."""

    def __init__(self, sql: str, columns: Converters, defaults: Fillers, *, id_at: int | None,
                 newest_ids_sql: str) -> None:  # fmt: skip
        super().__init__(columns, defaults)
        self.sql = sql
        self.id_at = id_at
        self.newest_ids_sql = newest_ids_sql

    def insert(self, connection: Any, rows: Rows) -> tuple[int, tuple[list[Any], ...]]:
        """How many rows went in, and the values bound (one list per column)."""
        arrays = self.arrays(rows)
        result = connection.exec_driver_sql(self.sql, list(zip(*arrays, strict=True)))
        return result.rowcount, arrays

    def insert_new(self, connection: Any, rows: Rows) -> list[str]:
        """Insert, skipping clashes; the ids that went in, in the rows' order.

        executemany returns no rows, so when some rows were skipped the ones that went in are
        found afterwards: SQLite gives each row inserted without a rowid one above every rowid
        in the table, so this call's rows are the table's ``count`` newest by rowid (whereas a
        skipped row may have proposed an id already stored).
        """
        assert self.id_at is not None
        count, arrays = self.insert(connection, rows)
        if count == len(rows):
            return list(arrays[self.id_at])
        if count == 0:
            return []
        newest = connection.exec_driver_sql(self.newest_ids_sql, (count,)).scalars().all()
        return list(reversed(newest))


@lru_cache(maxsize=64)
def _many_plan(table: Table, names: tuple[str, ...], unique: tuple[str, ...] | None,
               dialect: Dialect) -> _ManyPlan | None:  # fmt: skip
    """The SQLite plan for these rows, or None where it could not store (or return) what
    Core does."""
    if dialect.name != "sqlite" or (unique is not None and not _ids_found_by_rowid(table)):
        return None
    columns: Converters = [(name, _converter(table.c[name], dialect)) for name in names]
    targets = [table.c[name] for name in names]
    defaults: Fillers = []
    for column in table.c:
        if column.name in names or column.default is None:
            continue
        try:
            defaults.append(_default_filler(column, dialect))
        except NotImplementedError:
            return None  # a SQL expression or a sequence, which Core renders into the statement
        targets.append(column)
    if any(column.type._has_bind_expression for column in targets):  # noqa: SLF001
        return None  # SQL that Core wraps around a value
    named = [column.name for column in targets]
    if unique is not None and "id" not in named:
        return None  # no id to return
    quote = dialect.identifier_preparer.quote
    listed = ", ".join(quote(name) for name in named)
    sql = f"INSERT INTO {quote(table.name)} ({listed}) VALUES ({', '.join('?' * len(named))})"
    if unique is not None:
        sql += f" ON CONFLICT ({', '.join(quote(name) for name in unique)}) DO NOTHING"
    rowid = next(name for name in ("rowid", "_rowid_", "oid") if name not in table.c)
    newest = f"SELECT {quote('id')} FROM {quote(table.name)} ORDER BY {rowid} DESC LIMIT ?"
    id_at = named.index("id") if "id" in named else None
    return _ManyPlan(sql, columns, defaults, id_at=id_at, newest_ids_sql=newest)


def _ids_found_by_rowid(table: Table) -> bool:
    """Whether the ids that went in can be told by rowid, and read back as they were bound:
    plain text ids, in a table whose rowid SQLite assigns (not WITHOUT ROWID, and no INTEGER
    PRIMARY KEY, which is the rowid and which rows may set)."""
    if "id" not in table.c or type(table.c.id.type) is not String:
        return False
    if not table.dialect_options["sqlite"]["with_rowid"]:
        return False
    key = list(table.primary_key.columns)
    return not (len(key) == 1 and isinstance(key[0].type, Integer))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use insitu.db.utcnow()")
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _converter(column: Column[Any], dialect: Dialect) -> Callable[[list[Any]], list[Any]]:
    """What SQLAlchemy's bind processing would do to the column's values, list at a time."""
    kind = column.type
    if isinstance(kind, JSON):
        dumps = getattr(dialect, "_json_serializer", None) or json.dumps
        # As SQLAlchemy stores it: None is JSON null unless the type says SQL NULL.
        null = None if kind.none_as_null else dumps(None)
        return lambda values: [null if v is None else dumps(v) for v in values]
    # psycopg types an array by its first element: an int among floats must not decide.
    # (Elsewhere the type's own bind processing below does what Core does.)
    if dialect.name == "postgresql" and isinstance(kind, Float):
        return lambda values: [v if v is None or type(v) is float else float(v) for v in values]
    if dialect.name == "postgresql" and isinstance(kind, Integer):
        return lambda values: [v if v is None or type(v) is int else int(v) for v in values]
    process = kind._cached_bind_processor(dialect)  # noqa: SLF001 (the type's own processing)
    if process is None:
        return lambda values: values
    if isinstance(kind, UTCDateTime):
        # A page's rows mostly share a timestamp or two; equal instants are stored alike (in
        # UTC, whatever their offset), so each is formatted once.
        def once_each(values: list[Any]) -> list[Any]:
            stored = {value: process(value) for value in set(values)}
            return [stored[value] for value in values]

        return once_each
    return lambda values: [process(v) for v in values]


def _default_filler(column: Column[Any], dialect: Dialect) -> Callable[[int], list[Any]]:
    default: Any = column.default
    convert = _converter(column, dialect)
    if default.is_scalar:
        value = default.arg
        return lambda count: convert([value] * count)
    if default.is_callable:
        make = default.arg  # SQLAlchemy wraps it to take an execution context, unused here
        return lambda count: convert([make(None) for _ in range(count)])
    raise NotImplementedError(f"{column} has a default insitu cannot fill in bulk")
