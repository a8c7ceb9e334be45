"""A small process-wide cache of open stores, so signing a URL does not rebuild clients."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from insitu.storage.base import Location, ObjectStore

_MAX_OPEN = 256
_lock = threading.Lock()
_open: OrderedDict[tuple[str, str | None, str], ObjectStore] = OrderedDict()


def get_or_open(
    connection_id: str, location: Location, opener: Callable[[], ObjectStore]
) -> ObjectStore:
    cache_key = (connection_id, location.account, location.bucket)
    with _lock:
        store = _open.get(cache_key)
        if store is not None:
            _open.move_to_end(cache_key)
            return store
    store = opener()
    with _lock:
        existing = _open.get(cache_key)
        if existing is not None:
            store.close()
            return existing
        _open[cache_key] = store
        while len(_open) > _MAX_OPEN:
            _, evicted = _open.popitem(last=False)
            evicted.close()
    return store


def forget(connection_id: str) -> None:
    """Close and drop every store of a connection (after it is deleted or changed)."""
    with _lock:
        for cache_key in [key for key in _open if key[0] == connection_id]:
            _open.pop(cache_key).close()


def clear() -> None:
    with _lock:
        while _open:
            _open.popitem()[1].close()
