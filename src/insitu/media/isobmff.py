"""Find an MP4/MOV's index (``moov``) and fetch it in one request before PyAV asks for it.

PyAV reads in small buffers: left alone, a 50 KiB ``moov`` costs several requests, and the
demuxer's hop over ``mdat`` to a ``moov`` at the end of the file costs more. Walking the
top-level boxes costs nothing extra (their headers are in the head or the tail we fetch).
"""

from __future__ import annotations

import struct

from insitu.media.rangedfile import RangedFile

# A moov at the end is (nearly always) the file's last box: fetch the whole tail in one
# request when it is at most this large, rather than a header first and the box second.
TAIL_FETCH = 1024 * 1024
# After a moov at the start come the first samples, which PyAV reads once to learn codec
# parameters; fetch this much of them with the moov.
FIRST_SAMPLES = 64 * 1024


def prefetch_moov(rf: RangedFile) -> int | None:
    """Fetch the ``moov`` box (and what PyAV reads next); return its offset, or None."""
    pos = 0
    for _ in range(32):  # files have a handful of top-level boxes; stop on garbage
        if pos + 8 > rf.size:
            return None
        if not rf.cached(pos, pos + 16) and rf.size - pos <= min(TAIL_FETCH, _left(rf) // 2):
            rf.prefetch(pos, rf.size)
        header = rf.pread(pos, 16)
        if len(header) < 8:
            return None
        size, kind = struct.unpack(">I4s", header[:8])
        if size == 1 and len(header) == 16:
            (size,) = struct.unpack(">Q", header[8:16])
        elif size == 0:
            size = rf.size - pos
        if size < 8:
            return None
        if kind == b"moov":
            extra = FIRST_SAMPLES if pos + size < rf.size else 0
            rf.prefetch(pos, min(pos + size + extra, pos + _left(rf)))
            return pos
        pos += size
    return None


def _left(rf: RangedFile) -> int:
    return rf.budget - rf.bytes_read
