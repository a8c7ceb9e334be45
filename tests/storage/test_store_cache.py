"""Open stores are reused, but for a minute at most: a re-open validates the connection again."""

from __future__ import annotations

from typing import Any

import pytest

from insitu.connections import stores
from insitu.storage.base import Location


class Opened:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_a_store_is_reused_then_opened_again_after_a_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(stores.time, "monotonic", lambda: now[0])
    stores.clear()
    opened: list[Opened] = []

    def opener() -> Any:
        opened.append(Opened())
        return opened[-1]

    location = Location("s3", "s3", "bucket")
    first = stores.get_or_open("c1", location, opener)
    now[0] += stores.MAX_AGE_SECONDS - 1
    assert stores.get_or_open("c1", location, opener) is first and len(opened) == 1
    now[0] += 2  # past a minute: opened again (and so validated again)
    second = stores.get_or_open("c1", location, opener)
    assert second is not first and len(opened) == 2 and first.closed
    stores.forget("c1")
    assert second.closed
