"""``IdentityCache``: a provider's identities (credentials and SDK clients), kept per key.

Every cloud provider keeps the identities it made, least recently used first out, so clients
and credentials are shared by the stores of one org and connection settings.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class IdentityCache(Generic[V]):
    """A thread-safe LRU map from a settings key to the identity made for it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        """The identity cached under ``key``, else ``make()``'s, cached (the oldest may go)."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
                return value
        # Made outside the lock: making one may read a key file or build SDK sessions, and
        # should not hold up every other org. If two threads race, the first one stored wins.
        made = make()
        with self._lock:
            value = self._items.setdefault(key, made)
            self._items.move_to_end(key)
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every identity (tests; rotated platform keys)."""
        with self._lock:
            self._items.clear()
