"""Image dimensions from headers: PNG, GIF, BMP, JPEG (with EXIF orientation) and TIFF.

Parsed by hand rather than with Pillow: each needs a few dozen bytes, a hand parser costs
microseconds, and it touches none of Pillow's process-wide state (its bomb warnings) from
the import's worker threads. WebP lives in ``webp.py``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from insitu.media.facts import CorruptHeader, Truncated
from insitu.media.rangedfile import RangedFile

# EXIF orientations 5-8 rotate by 90 degrees: the displayed width is the stored height.
_TRANSPOSED = {5, 6, 7, 8}
_TAG_WIDTH, _TAG_HEIGHT, _TAG_ORIENTATION = 256, 257, 274
# SOFn markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass(frozen=True)
class ImageHeader:
    """An image's displayed size, after EXIF orientation."""

    width: int
    height: int
    details: dict[str, Any] = field(default_factory=dict)


def oriented(width: int, height: int, orientation: int | None) -> ImageHeader:
    """The displayed size for a stored size and an EXIF orientation (1-8)."""
    details: dict[str, Any] = {}
    if orientation and orientation != 1:
        details["orientation"] = orientation
    if orientation in _TRANSPOSED:
        width, height = height, width
    return ImageHeader(width, height, details)


def _exact(rf: RangedFile, start: int, length: int, what: str) -> bytes:
    data = rf.pread(start, length)
    if len(data) < length:
        raise CorruptHeader(f"the file ends inside its {what}")
    return data


def png_header(rf: RangedFile) -> ImageHeader:
    head = _exact(rf, 0, 24, "PNG header")
    if head[12:16] not in (b"IHDR", b"CgBI"):
        raise CorruptHeader("the PNG signature is not followed by an IHDR chunk")
    if head[12:16] == b"CgBI":  # Apple's variant puts a 4-byte CgBI chunk before IHDR
        width, height = struct.unpack(">II", _exact(rf, 32, 8, "PNG header"))
    else:
        width, height = struct.unpack(">II", head[16:24])
    return ImageHeader(width, height)


def gif_header(rf: RangedFile) -> ImageHeader:
    width, height = struct.unpack("<HH", _exact(rf, 6, 4, "GIF header"))
    return ImageHeader(width, height)


def bmp_header(rf: RangedFile) -> ImageHeader:
    head = _exact(rf, 14, 12, "BMP header")
    (dib_size,) = struct.unpack("<I", head[:4])
    if dib_size == 12:  # BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<hh", head[4:8])
    else:
        width, height = struct.unpack("<ii", head[4:12])
    return ImageHeader(abs(width), abs(height))  # a negative height means top-down rows


def jpeg_header(rf: RangedFile) -> ImageHeader:
    """Walk the JPEG markers to the frame header; EXIF orientation comes from APP1 on the way.

    Only segment headers are read: an EXIF thumbnail or ICC profile is skipped, not fetched.
    """
    pos = 2
    orientation: int | None = None
    while True:
        marker = _exact(rf, pos, 4, "JPEG markers")
        if marker[0] != 0xFF:
            raise CorruptHeader(f"expected a JPEG marker at byte {pos}")
        if marker[1] == 0xFF:  # fill byte
            pos += 1
            continue
        code = marker[1]
        if code == 0x01 or 0xD0 <= code <= 0xD7:  # markers without a length
            pos += 2
            continue
        if code in (0xD9, 0xDA):
            raise CorruptHeader("the JPEG reaches its image data without a frame header")
        (length,) = struct.unpack(">H", marker[2:4])
        if pos + 2 + length > rf.size:
            what = f"its JPEG segment 0x{code:02X} (from byte {pos:,})"
            raise Truncated.past_end(what, pos + 2 + length, rf.size)
        if code in _SOF:
            frame = _exact(rf, pos + 4, 5, "JPEG frame header")
            height, width = struct.unpack(">HH", frame[1:5])
            if not width or not height:
                raise CorruptHeader("the JPEG frame header has a zero size")
            return oriented(width, height, orientation)
        if code == 0xE1 and orientation is None and length >= 14:
            if rf.pread(pos + 4, 6) == b"Exif\x00\x00":
                orientation = _tiff_tags(rf, pos + 10, pos + 2 + length).get(_TAG_ORIENTATION)
        pos += 2 + length


def tiff_header(rf: RangedFile) -> ImageHeader:
    tags = _tiff_tags(rf, 0, rf.size)
    width, height = tags.get(_TAG_WIDTH), tags.get(_TAG_HEIGHT)
    if not width or not height:
        raise CorruptHeader("the TIFF's first directory has no image width or length")
    return oriented(width, height, tags.get(_TAG_ORIENTATION))


def _tiff_tags(rf: RangedFile, base: int, limit: int) -> dict[int, int]:
    """The numeric tags of a TIFF structure's first directory (IFD0) starting at ``base``.

    Shared by TIFF files and JPEG EXIF blocks, which are a TIFF structure inside APP1.
    A malformed EXIF block in a JPEG is common and harmless: it yields no tags.
    """
    head = rf.pread(base, 16)
    if len(head) < 8 or head[:2] not in (b"II", b"MM"):
        raise CorruptHeader("the TIFF structure has no byte-order mark")
    order = "<" if head[:2] == b"II" else ">"
    (magic,) = struct.unpack(order + "H", head[2:4])
    if magic == 42:
        (ifd,) = struct.unpack(order + "I", head[4:8])
        count_fmt, entry_size, value_at = "H", 12, 8
    elif magic == 43 and len(head) >= 16:  # BigTIFF: 64-bit offsets
        (ifd,) = struct.unpack(order + "Q", head[8:16])
        count_fmt, entry_size, value_at = "Q", 20, 12
    else:
        raise CorruptHeader("the TIFF structure has an unknown version")
    count_size = struct.calcsize(count_fmt)
    raw_count = rf.pread(base + ifd, count_size)
    if len(raw_count) < count_size or base + ifd >= limit:
        raise CorruptHeader("the TIFF's first directory lies outside the file")
    (count,) = struct.unpack(order + count_fmt, raw_count)
    entries = rf.pread(base + ifd + count_size, min(count, 4096) * entry_size)
    tags: dict[int, int] = {}
    for offset in range(0, len(entries) - entry_size + 1, entry_size):
        tag, kind = struct.unpack(order + "HH", entries[offset : offset + 4])
        value = entries[offset + value_at : offset + value_at + 4]
        if kind == 3:  # SHORT
            tags[tag] = struct.unpack(order + "H", value[:2])[0]
        elif kind == 4:  # LONG
            tags[tag] = struct.unpack(order + "I", value)[0]
    return tags
