"""Bulk inserts store exactly what SQLAlchemy's Core insert stores, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Float, Integer, MetaData, String, Table, Text, insert, select

from insitu.bulk import insert_all, insert_new, one_of, upsert_insert
from insitu.config import Settings
from insitu.db import UTCDateTime, get_engine, new_id, session_scope, utcnow

both = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)

metadata = MetaData()
things = Table(
    "bulk_things",
    metadata,
    Column("id", String(32), primary_key=True, default=new_id),
    Column("created_at", UTCDateTime(), default=utcnow),
    Column("name", Text, unique=True),
    Column("count", Integer),
    Column("ratio", Float),
    Column("details", JSON),
    Column("note", String(16), default="none given"),
)

AT = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))
# The same instant in another offset, another instant in a third, and none.
LATER = AT.astimezone(timezone(timedelta(hours=-5, minutes=-30))) + timedelta(microseconds=1)
TIMES = [AT, AT.astimezone(UTC), LATER, None]


def _rows(prefix: str, **extra: Any) -> list[dict[str, Any]]:
    details: list[Any] = [None, {"codec": "h264"}, [1, 2], "text"]
    return [
        {
            "id": f"{prefix}{index}",
            "created_at": TIMES[index],
            "name": f"{prefix}-{index}",
            "count": index if index % 2 else None,
            "ratio": index if index < 2 else index + 0.5,  # an int among floats
            "details": value,
            **extra,
        }
        for index, value in enumerate(details)
    ]


def _stored(prefix: str) -> list[tuple[Any, ...]]:
    with session_scope() as session:
        rows = session.execute(
            select(things, things.c.details.is_(None).label("sql_null"))
            .where(things.c.id.like(f"{prefix}%"))
            .order_by(things.c.id)
        ).all()
    # Compared without the prefix that makes ids and names unique.
    return [(row.id[1:], row.name[1:], *row[1:2], *row[3:]) for row in rows]


@both
@pytest.mark.parametrize(
    "extra",
    [
        {},  # a column with a default left out
        {"note": "given"},  # every column named
        {"note": "given", "ratio": float("nan")},  # a value JSON cannot hold
    ],
    ids=["defaulted", "all-named", "nan"],
)
def test_bulk_inserts_store_what_core_inserts_store(
    settings: Settings, extra: dict[str, Any]
) -> None:
    metadata.create_all(get_engine())
    with session_scope() as session:
        session.connection().execute(insert(things), _rows("a", **extra))
        insert_all(session, things, _rows("b", **extra))
    # repr: NaN is not equal to itself
    assert repr(_stored("b")) == repr(_stored("a"))
    # JSON null as Core stores it (not SQL NULL), and the column's default or given value
    assert _stored("b")[0][-3:] == (None, extra.get("note", "none given"), False)


@both
def test_insert_new_skips_clashes_and_returns_only_the_new_ids(settings: Settings) -> None:
    metadata.create_all(get_engine())
    with session_scope() as session:
        insert_all(session, things, [{"name": "taken", "count": 1}])
        ids = insert_new(
            session,
            things,
            [{"id": "n1", "name": "taken", "count": 2}, {"id": "n2", "name": "new", "count": 3}],
            unique=["name"],
        )
    assert ids == ["n2"]
    with session_scope() as session:
        stored = session.execute(select(things.c.name, things.c.count, things.c.created_at))
        by_name = {name: (count, created) for name, count, created in stored}
    assert by_name["taken"][0] == 1  # the first row kept, the clash skipped
    assert by_name["new"][0] == 3
    assert by_name["taken"][1] <= utcnow() and by_name["taken"][1].tzinfo is not None


@both
def test_insert_new_returns_the_ids_core_returns_when_rows_clash(settings: Settings) -> None:
    metadata.create_all(get_engine())

    def row(id_: str, name: str, count: int) -> dict[str, Any]:
        return {"id": id_, "name": name, "count": count, "created_at": AT}

    def proposed(prefix: str) -> list[dict[str, Any]]:
        return [
            row(f"{prefix}1", f"{prefix}-first", 1),
            row(f"{prefix}2", f"{prefix}-taken", 2),  # a stored row's name
            row(f"{prefix}3", f"{prefix}-first", 3),  # the name of this call's first row
            row(f"{prefix}0", f"{prefix}-stored", 4),  # a stored row's id and name
            row(f"{prefix}4", f"{prefix}-last", 5),
        ]

    with session_scope() as session:
        for prefix in "ab":
            stored = [row(f"{prefix}0", f"{prefix}-stored", 0),
                      row(f"{prefix}9", f"{prefix}-taken", 0)]  # fmt: skip
            session.connection().execute(insert(things), stored)
        core = upsert_insert(session)(things).on_conflict_do_nothing(index_elements=["name"])
        by_core = session.connection().execute(core.returning(things.c.id), proposed("a"))
        by_core_ids = sorted(by_core.scalars())
        ids = insert_new(session, things, proposed("b"), unique=["name"])
    assert by_core_ids == ["a1", "a4"]
    assert ids == ["b1", "b4"]
    assert repr(_stored("b")) == repr(_stored("a"))


@both
def test_insert_new_returns_the_ids_it_generated_when_every_row_goes_in(
    settings: Settings,
) -> None:
    metadata.create_all(get_engine())
    with session_scope() as session:
        ids = insert_new(session, things, [{"name": "g1"}, {"name": "g2"}], unique=["name"])
        stored = dict(session.execute(select(things.c.name, things.c.id)).all())
    assert ids == [stored["g1"], stored["g2"]]


numbered = Table(
    "bulk_numbered",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, unique=True),
)


@both
def test_insert_new_returns_the_new_ids_of_a_table_numbered_by_the_database(
    settings: Settings,
) -> None:
    metadata.create_all(get_engine())
    with session_scope() as session:
        insert_all(session, numbered, [{"id": 7, "name": "taken"}])
        ids = insert_new(
            session,
            numbered,
            [{"id": 3, "name": "new"}, {"id": 5, "name": "taken"}, {"id": 1, "name": "last"}],
            unique=["name"],
        )
    assert sorted(ids) == [1, 3]


@both
def test_one_of_finds_exactly_the_listed_values(settings: Settings) -> None:
    metadata.create_all(get_engine())
    names = ["plain", "with 'quote'", 'with "double"', "ünïcødé/ключ", "back\\slash"]
    with session_scope() as session:
        insert_all(session, things, [{"name": name, "note": "n"} for name in names])
        asked = [*names[1:], "absent", "PLAIN"]
        found = session.scalars(select(things.c.name).where(one_of(session, things.c.name, asked)))
        assert sorted(found) == sorted(names[1:])
        nothing = session.scalars(select(things.c.name).where(one_of(session, things.c.name, [])))
        assert list(nothing) == []
        cut = one_of(session, things.c.name, ["plain\x00tail", "back\\slash"])
        assert list(session.scalars(select(things.c.name).where(cut))) == ["back\\slash"]
