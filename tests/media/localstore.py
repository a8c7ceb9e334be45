"""A minimal ObjectStore over a local directory, counting real ranged reads.

Lets the media tests and the byte benchmark read real files through real byte ranges
without a server; the suite's end-to-end tests go through the S3 provider on moto.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from insitu.errors import ObjectNotFound
from insitu.storage.base import ListPage, ObjectInfo, SignedURL


class DirectoryStore:
    """Objects are the files under ``root``; keys are their relative POSIX paths."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[tuple[str, int, int]] = []
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        path = self.root / key
        if not path.is_file():
            raise ObjectNotFound(f"{key} does not exist", key=key)
        return path

    def list_pages(
        self, prefix: str, *, cursor: str | None = None, page_size: int = 1000
    ) -> Iterator[ListPage]:
        keys = sorted(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()
        )
        keys = [k for k in keys if k.startswith(prefix) and (cursor is None or k > cursor)]
        for i in range(0, len(keys), page_size):
            page = keys[i : i + page_size]
            more = i + page_size < len(keys)
            yield ListPage([self.head(k) for k in page], page[-1] if more else None)

    def head(self, key: str) -> ObjectInfo:
        return ObjectInfo(key=key, size=self._path(key).stat().st_size)

    def get_range(self, key: str, start: int, end: int) -> bytes:
        with self._lock:
            self.requests.append((key, start, end))
        with open(self._path(key), "rb") as f:
            f.seek(start)
            return f.read(max(0, end - start))

    def sign(self, key: str, *, ttl: timedelta) -> SignedURL:
        raise NotImplementedError

    def close(self) -> None:
        pass


def info_for(store: DirectoryStore, key: str) -> ObjectInfo:
    return store.head(key)


def remove(store: DirectoryStore, key: str) -> None:
    os.remove(store.root / key)
