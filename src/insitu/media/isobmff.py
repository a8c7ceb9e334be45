"""An MP4/MOV's top-level boxes: fetch the index (``moov``) early, and refuse a cut-off file.

PyAV reads in small buffers: left alone, a 50 KiB ``moov`` costs several requests, and the
demuxer's hop over ``mdat`` to a ``moov`` at the end of the file costs more. Walking the
top-level boxes costs nothing extra (their headers are in the head or the tail we fetch).

The same walk checks every box's declared end against the object's size, and the index's
sample tables against it too: FFmpeg opens a file cut off inside ``mdat`` as if it were
whole (the index is intact), so without this a truncated upload passes as a good video.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from insitu.media.facts import Truncated
from insitu.media.rangedfile import RangedFile

# A moov at the end is (nearly always) the file's last box: fetch the whole tail in one
# request when it is at most this large, rather than a header first and the box second.
TAIL_FETCH = 1024 * 1024
# After a moov at the start come the first samples, which PyAV reads once to learn codec
# parameters; fetch this much of them with the moov.
FIRST_SAMPLES = 64 * 1024
# Files have a handful of top-level boxes; a fragmented MP4 has two per fragment. Stop
# walking (no verdict) after this many.
MAX_BOXES = 64
_HEADER = 16


@dataclass(frozen=True)
class Box:
    kind: bytes
    start: int
    payload: int  # where the box's content starts (after its 8- or 16-byte header)
    end: int  # where the box says it ends


def walk_top_level(rf: RangedFile) -> Box | None:
    """Walk the top-level boxes, fetching the ``moov`` when met; return it, or None.

    Raises ``Truncated`` when a box's declared end lies past the object's end.
    """
    pos = 0
    moov: Box | None = None
    for _ in range(MAX_BOXES):
        if pos + 8 > rf.size:
            return moov  # the end (or a few stray bytes no box fits in)
        if not rf.cached(pos, pos + _HEADER):
            if moov is not None:
                # Past the index, only headers already fetched are checked: a request for
                # each (a fragmented MP4 has hundreds) would cost more than the probe does.
                return moov
            if rf.size - pos <= min(TAIL_FETCH, _left(rf) // 2):
                rf.prefetch(pos, rf.size)
        box = _box_at(rf.pread(pos, _HEADER), pos, rf.size)
        if box is None:
            return moov  # not a box header: leave the verdict to FFmpeg
        if box.end > rf.size:
            raise Truncated.past_end(
                f"its {_name(box.kind)} box (from byte {pos:,})", box.end, rf.size
            )
        if box.kind == b"moov" and moov is None:
            moov = box
            extra = FIRST_SAMPLES if box.end < rf.size else 0
            rf.prefetch(pos, min(box.end + extra, pos + _left(rf)))
        pos = box.end
    return moov


def check_sample_tables(rf: RangedFile, moov: Box) -> None:
    """Raise ``Truncated`` when the index places a chunk of samples past the object's end.

    Only when the whole ``moov`` is already fetched (it costs no request); tracks whose
    tables this does not read (compact ``stz2`` sizes, media in another file) are skipped.
    """
    if not rf.cached(moov.start, moov.end):
        return
    data = rf.pread(moov.start, moov.end - moov.start)
    end = 0
    for trak in _children(data, moov.payload - moov.start, len(data), b"trak"):
        track_end = _track_end(data, trak)
        if track_end is not None:
            end = max(end, track_end)
    if end > rf.size:
        raise Truncated.past_end("the media data its index (moov) points to", end, rf.size)


def _track_end(data: bytes, trak: Box) -> int | None:
    """The end of the track's last chunk in the file (offset of the farthest chunk + size)."""
    minf = _path(data, trak, (b"mdia", b"minf"))
    if minf is None or not _self_contained(data, minf):
        return None
    stbl = _path(data, minf, (b"stbl",))
    if stbl is None:
        return None
    tables = {box.kind: box for box in _children(data, stbl.payload, stbl.end)}
    if b"stco" in tables:
        offsets = _numbers(data, tables[b"stco"], "I")
    elif b"co64" in tables:
        offsets = _numbers(data, tables[b"co64"], "Q")
    else:
        return None
    if not offsets or b"stsc" not in tables or b"stsz" not in tables:
        return None
    chunk = max(range(len(offsets)), key=offsets.__getitem__)
    first, count = _samples_of_chunk(data, tables[b"stsc"], chunk + 1)
    return offsets[chunk] + _sizes(data, tables[b"stsz"], first, count)


def _samples_of_chunk(data: bytes, stsc: Box, chunk: int) -> tuple[int, int]:
    """(index of the chunk's first sample, its sample count) from the sample-to-chunk runs."""
    (entries,) = struct.unpack_from(">I", data, stsc.payload + 4)
    runs = [
        struct.unpack_from(">II", data, stsc.payload + 8 + 12 * i)
        for i in range(min(entries, (stsc.end - stsc.payload - 8) // 12))
    ]
    first_sample = 0
    for index, (first_chunk, per_chunk) in enumerate(runs):
        next_first = runs[index + 1][0] if index + 1 < len(runs) else None
        if next_first is None or chunk < next_first:
            return first_sample + (chunk - first_chunk) * per_chunk, per_chunk
        first_sample += (next_first - first_chunk) * per_chunk
    return 0, 0


def _sizes(data: bytes, stsz: Box, first: int, count: int) -> int:
    """The summed sizes of samples ``[first, first+count)``."""
    uniform, total = struct.unpack_from(">II", data, stsz.payload + 4)
    count = max(0, min(count, total - first))
    if uniform:
        return uniform * count
    start = stsz.payload + 12 + 4 * first
    count = max(0, min(count, (stsz.end - start) // 4))
    return sum(struct.unpack_from(f">{count}I", data, start))


def _numbers(data: bytes, box: Box, code: str) -> tuple[int, ...]:
    """The entries of a ``stco``/``co64`` table (version/flags, count, then big-endian ints)."""
    (count,) = struct.unpack_from(">I", data, box.payload + 4)
    start = box.payload + 8
    count = max(0, min(count, (box.end - start) // struct.calcsize(code)))
    return struct.unpack_from(f">{count}{code}", data, start)


def _self_contained(data: bytes, minf: Box) -> bool:
    """Whether the track's media lie in this file (every data reference has flag 1 set)."""
    dref = _path(data, minf, (b"dinf", b"dref"))
    if dref is None:
        return True
    entries = list(_children(data, dref.payload + 8, dref.end))
    return all(entry.end - entry.start >= 12 and data[entry.start + 11] & 1 for entry in entries)


def _path(data: bytes, box: Box, kinds: tuple[bytes, ...]) -> Box | None:
    for kind in kinds:
        found = next(_children(data, box.payload, box.end, kind), None)
        if found is None:
            return None
        box = found
    return box


def _children(data: bytes, start: int, end: int, kind: bytes | None = None) -> Iterator[Box]:
    pos = start
    end = min(end, len(data))
    while pos + 8 <= end:
        box = _box_at(data[pos : pos + _HEADER], pos, end)
        if box is None or box.end > end:
            return
        if kind is None or box.kind == kind:
            yield box
        pos = box.end


def _box_at(header: bytes, pos: int, size: int) -> Box | None:
    """The box whose header starts ``header`` (read at ``pos`` of a ``size``-byte whole)."""
    if len(header) < 8:
        return None
    length, kind = struct.unpack(">I4s", header[:8])
    payload = pos + 8
    if length == 1:
        if len(header) < 16:
            return None
        (length,) = struct.unpack(">Q", header[8:16])
        payload = pos + 16
    elif length == 0:  # "to the end of the file"
        length = size - pos
    if length < payload - pos:
        return None
    return Box(kind, pos, payload, pos + length)


def _name(kind: bytes) -> str:
    return kind.decode("latin-1").strip() or repr(kind)


def _left(rf: RangedFile) -> int:
    return rf.budget - rf.bytes_read
