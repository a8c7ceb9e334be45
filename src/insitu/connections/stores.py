"""A small process-wide cache of open stores, so signing a URL does not rebuild clients.

A store is kept for a minute at most: opening one validates the connection again (its tenant
still the org's, its endpoint still allowed), so an operator's change made in another process
(a tenant moved, an endpoint grant revoked) reaches every server within a minute.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from insitu.storage.base import Location, ObjectStore

_MAX_OPEN = 256
MAX_AGE_SECONDS = 60.0
_lock = threading.Lock()
# cache key -> (when it was opened, on the monotonic clock; the store)
_open: OrderedDict[tuple[str, str | None, str], tuple[float, ObjectStore]] = OrderedDict()


def get_or_open(
    connection_id: str, location: Location, opener: Callable[[], ObjectStore]
) -> ObjectStore:
    cache_key = (connection_id, location.account, location.bucket)
    with _lock:
        cached = _open.get(cache_key)
        if cached is not None and time.monotonic() - cached[0] < MAX_AGE_SECONDS:
            _open.move_to_end(cache_key)
            return cached[1]
    store = opener()
    with _lock:
        cached = _open.get(cache_key)
        if cached is not None and time.monotonic() - cached[0] < MAX_AGE_SECONDS:
            store.close()
            return cached[1]
        if cached is not None:
            cached[1].close()
        _open[cache_key] = (time.monotonic(), store)
        _open.move_to_end(cache_key)
        while len(_open) > _MAX_OPEN:
            _, (_, evicted) = _open.popitem(last=False)
            evicted.close()
    return store


def forget(connection_id: str) -> None:
    """Close and drop every store of a connection (after it is deleted or changed)."""
    with _lock:
        for cache_key in [key for key in _open if key[0] == connection_id]:
            _open.pop(cache_key)[1].close()


def clear() -> None:
    with _lock:
        while _open:
            _open.popitem()[1][1].close()
