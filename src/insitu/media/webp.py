"""WebP dimensions from its RIFF header (Pillow would read the whole file to learn them)."""

from __future__ import annotations

import struct

from insitu.media.facts import CorruptHeader
from insitu.media.images import ImageHeader
from insitu.media.rangedfile import RangedFile


def webp_header(rf: RangedFile) -> ImageHeader:
    """Canvas size from the first chunk: VP8X (extended), VP8L (lossless) or VP8 (lossy)."""
    head = rf.pread(0, 30)
    if len(head) < 30 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        raise CorruptHeader("the file ends inside its WebP header")
    chunk = head[12:16]
    if chunk == b"VP8X":
        flags = head[20]
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        details = {"animated": True} if flags & 0x02 else {}
        return ImageHeader(width, height, details)
    if chunk == b"VP8L":
        if head[20] != 0x2F:
            raise CorruptHeader("the WebP lossless signature byte is wrong")
        (bits,) = struct.unpack("<I", head[21:25])
        return ImageHeader((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8 ":
        if head[23:26] != b"\x9d\x01\x2a":
            raise CorruptHeader("the WebP lossy frame has no start code")
        width, height = struct.unpack("<HH", head[26:30])
        return ImageHeader(width & 0x3FFF, height & 0x3FFF)  # top 2 bits are scaling
    raise CorruptHeader(f"the WebP's first chunk {chunk!r} is not VP8, VP8L or VP8X")
