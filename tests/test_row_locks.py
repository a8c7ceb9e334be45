"""Two transactions that read a row and then change it never fail on each other, on SQLite
(where a read-then-write transaction cannot wait for another writer) as on PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest

from insitu.config import Settings
from insitu.db import get_for_update, session_scope
from insitu.organizations import service as organizations
from insitu.organizations.models import Organization


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_two_writers_of_one_row_wait_for_each_other_instead_of_failing(
    settings: Settings,
) -> None:
    with session_scope() as session:
        org, _ = organizations.create(session, name="n", settings=settings)
        org_id = org.id
    first_holds_it = threading.Event()
    errors: list[BaseException] = []

    def rename(suffix: str, hold: float) -> None:
        try:
            with session_scope() as session:
                org = get_for_update(session, Organization, org_id)
                assert org is not None
                first_holds_it.set()
                time.sleep(hold)
                org.name = org.name + suffix
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            errors.append(exc)

    first = threading.Thread(target=rename, args=("-a", 0.5))
    first.start()
    first_holds_it.wait(5)
    rename("-b", 0)
    first.join()
    assert errors == []
    with session_scope() as session:
        assert session.get_one(Organization, org_id).name == "n-a-b"
