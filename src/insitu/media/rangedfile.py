"""A seekable, read-only file object over ranged reads of one stored object.

Parsers (ours, pydicom, PyAV) read it like a local file; underneath, every miss becomes one
``get_range`` request. Fetched ranges are kept for the life of the object (at most the byte
budget, a few MiB), so a parser seeking back to the header costs nothing.

Read-ahead is adaptive: a miss right where the previous fetch ended doubles the next fetch
(a parser streaming through an index), a miss anywhere else starts again at ``read_ahead``
(a demuxer seeking to an index at the end of the file must not drag the middle along).
"""

from __future__ import annotations

import bisect
import io
import os

from insitu.storage.base import ObjectStore

# The largest single fetch while streaming sequentially; the budget caps it further.
MAX_WINDOW = 1024 * 1024


class BudgetExceeded(Exception):
    """Reading on would pass the per-file byte budget; the probe turns it into a failure."""

    def __init__(self, key: str, wanted: int, budget: int) -> None:
        super().__init__(f"{key}: reading {wanted} bytes in all would pass the budget {budget}")
        self.wanted = wanted
        self.budget = budget


class RangedFile(io.RawIOBase):
    """Read-only, seekable view of ``key`` that fetches only the byte ranges it is asked for.

    One instance serves one probe on one thread; it is not shared.
    """

    def __init__(
        self,
        store: ObjectStore,
        key: str,
        size: int,
        *,
        budget: int,
        read_ahead: int = 16 * 1024,
        head: bytes | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.key = key
        self.size = size
        self.budget = budget
        self.read_ahead = max(1, read_ahead)
        self.bytes_read = 0
        self.requests = 0
        # Set when a read failed inside a parser that may swallow exceptions (PyAV, pydicom):
        # the probe looks here afterwards so a swallowed failure is never mistaken for data.
        self.error: BaseException | None = None
        self._pos = 0
        self._starts: list[int] = []  # sorted, non-overlapping cached segments
        self._chunks: list[bytes] = []
        self._last_end = -1
        self._window = self.read_ahead
        if head:  # fetched already, by the one request every probe starts with
            self.requests, self.bytes_read, self._last_end = 1, len(head), len(head)
            self._insert(0, head)

    # -- io.RawIOBase ---------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise OSError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, self.size - self._pos)
        data = self.pread(self._pos, size)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    # -- ranged access --------------------------------------------------------------------

    def pread(self, start: int, length: int) -> bytes:
        """Bytes ``[start, start+length)`` (fewer at the end), fetching what is not cached."""
        end = min(self.size, start + max(0, length))
        if start >= end:
            return b""
        try:
            return self._read(start, end)
        except BaseException as exc:
            self.error = self.error or exc
            raise

    def prefetch(self, start: int, end: int) -> bool:
        """Fetch ``[start, end)`` in one request now, if the budget allows; a hint, never fails.

        For a parser that knows it will need the whole range (an MP4's ``moov``).
        """
        gap = self._first_gap(start, min(self.size, end))
        if gap is None:
            return True
        gap_end = self._next_cached(gap[0], gap[1])
        if self.bytes_read + (gap_end - gap[0]) > self.budget:
            return False
        self._fetch(gap[0], gap_end, gap_end)
        return True

    def first_fetch(self) -> bytes:
        """What the first request fetched from offset 0 (without copying), or b"" if none.

        For checks that may look only at bytes already paid for: every probe fetches the
        head first, and a small file whole.
        """
        if self._starts and self._starts[0] == 0:
            return self._chunks[0]
        return b""

    def cached(self, start: int, end: int) -> bool:
        """Whether ``[start, end)`` can be read without a request."""
        return self._first_gap(start, min(self.size, end)) is None

    def _read(self, start: int, end: int) -> bytes:
        parts: list[bytes] = []
        pos = start
        while pos < min(end, self.size):
            index = bisect.bisect_right(self._starts, pos) - 1
            if index >= 0:
                seg_start = self._starts[index]
                chunk = self._chunks[index]
                if pos < seg_start + len(chunk):
                    take = chunk[pos - seg_start : end - seg_start]
                    parts.append(take)
                    pos += len(take)
                    continue
            # A miss: fetch from pos, at least to ``end``, at most up to the next cached segment.
            sequential = pos == self._last_end
            self._window = min(self._window * 2, MAX_WINDOW) if sequential else self.read_ahead
            want_end = self._next_cached(pos, max(end, pos + self._window))
            self._fetch(pos, want_end, min(end, want_end))
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _fetch(self, start: int, end: int, must_end: int) -> None:
        """One request for ``[start, end)``, shrunk to ``[start, must_end)`` to fit the budget."""
        end = min(end, start + (self.budget - self.bytes_read))
        if end < must_end or end <= start:
            raise BudgetExceeded(self.key, self.bytes_read + (must_end - start), self.budget)
        data = self.store.get_range(self.key, start, end)
        self.requests += 1
        self.bytes_read += len(data)
        self._last_end = start + len(data)
        if len(data) < end - start:
            # The object is shorter than its listing said (replaced or truncated meanwhile).
            self.size = start + len(data)
        if data:
            self._insert(start, data)

    def _insert(self, start: int, data: bytes) -> None:
        index = bisect.bisect_left(self._starts, start)
        self._starts.insert(index, start)
        self._chunks.insert(index, data)

    def _next_cached(self, pos: int, limit: int) -> int:
        """``limit``, or the start of the first cached segment after ``pos`` if that is sooner."""
        index = bisect.bisect_right(self._starts, pos)
        if index < len(self._starts):
            limit = min(limit, self._starts[index])
        return min(limit, self.size)

    def _first_gap(self, start: int, end: int) -> tuple[int, int] | None:
        pos = start
        while pos < end:
            index = bisect.bisect_right(self._starts, pos) - 1
            if index >= 0 and pos < self._starts[index] + len(self._chunks[index]):
                pos = self._starts[index] + len(self._chunks[index])
                continue
            return pos, end
        return None
