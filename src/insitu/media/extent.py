"""Refuse a cut-off file: sizes a header declares, checked against the object's listed size.

An upload or copy cut off midway keeps its header, so every header parser (and FFmpeg)
reads it as a good file. Most containers declare how long they are, or how long their
parts are: when what they declare runs past the object's end, the file is truncated.

Only bytes the probe already holds are looked at (the head, and the tail a PDF's trailer
needs), so this costs no request and no byte beyond what probing reads anyway:

    RIFF (WebP, WAV, AVI)  the RIFF size, and each chunk's size in the head
    Matroska / WebM        the Segment's size, and its top-level elements' in the head
    PNG                    each chunk's length in the head; IEND when the whole file is held
    JPEG                   the end-of-image marker when the whole file is held
                           (segment lengths are checked on the way to the frame header)
    BMP                    the file size and the pixel array's size in the file header
    MP3                    the ID3v2 tag's size, and the stream length a Xing/Info/VBRI
                           header declares
    FLAC                   each metadata block's length in the head
    PDF                    the linearized file length (/L); %%EOF and startxref in the tail

MP4/MOV are checked while walking their boxes (``isobmff``), DICOM's pixel data element
after pydicom stops before it (``dicom``). What no header declares cannot be known without
reading the whole file, and is not checked: GIF, TIFF, Ogg and raw AAC streams, a PNG cut
after its head exactly at a chunk boundary, the end of a large JPEG.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

from insitu.media.facts import Truncated
from insitu.media.rangedfile import RangedFile

_PDF_TAIL = 4096  # the same range pdf.py reads for the trailer
_UNKNOWN_32 = (0, 0xFFFFFFFF)  # sizes streaming writers leave when they cannot seek back
_RIFF_SLACK = 8


def check_extent(rf: RangedFile, format_name: str) -> None:
    """Raise ``Truncated`` when ``format_name``'s header declares more than the object has."""
    check = _CHECKS.get(format_name)
    if check is not None:
        check(rf)


def _head(rf: RangedFile) -> bytes:
    """The head every probe fetches first (the whole of a small file): costs no request."""
    return rf.first_fetch()


def _riff(rf: RangedFile) -> None:
    head = _head(rf)
    if len(head) < 12:
        return
    (size,) = struct.unpack("<I", head[4:8])
    # Slack for writers' known miscounts (the 8-byte RIFF header itself, the pad byte of
    # an odd last chunk never written): a cut-off upload misses far more than that.
    if size not in _UNKNOWN_32 and 8 + size > rf.size + _RIFF_SLACK:
        raise Truncated.past_end("its RIFF header", 8 + size, rf.size)
    pos = 12
    while pos + 8 <= len(head):
        kind = head[pos : pos + 4]
        (length,) = struct.unpack("<I", head[pos + 4 : pos + 8])
        if length in _UNKNOWN_32:
            return
        end = pos + 8 + length
        if end > rf.size + _RIFF_SLACK:
            raise Truncated.past_end(
                f"its {_chunk_name(kind)} chunk (from byte {pos:,})", end, rf.size
            )
        pos = end + (length & 1)


def _vint(data: bytes, pos: int) -> tuple[int, int, bool] | None:
    """An EBML variable-length integer at ``pos``: (value, width, all value bits set)."""
    if pos >= len(data) or data[pos] == 0:
        return None
    width = 9 - data[pos].bit_length()
    if pos + width > len(data):
        return None
    value = data[pos] & (0xFF >> width)
    for byte in data[pos + 1 : pos + width]:
        value = (value << 8) | byte
    return value, width, value == (1 << (7 * width)) - 1


def _element(data: bytes, pos: int) -> tuple[int, int, int | None] | None:
    """(element ID, where its data starts, its size or None when unknown) at ``pos``."""
    ident = _vint(data, pos)
    if ident is None:
        return None
    element_id = int.from_bytes(data[pos : pos + ident[1]], "big")
    size = _vint(data, pos + ident[1])
    if size is None:
        return None
    start = pos + ident[1] + size[1]
    return element_id, start, None if size[2] else size[0]


_SEGMENT = 0x18538067


def _ebml(rf: RangedFile) -> None:
    head = _head(rf)
    header = _element(head, 0)
    if header is None or header[2] is None:
        return
    segment = _element(head, header[1] + header[2])
    if segment is None or segment[0] != _SEGMENT:
        return
    _, pos, size = segment
    if size is not None and pos + size > rf.size:
        raise Truncated.past_end("its Matroska Segment", pos + size, rf.size)
    while pos < len(head):  # the Segment's top-level elements: SeekHead, Info, Tracks, ...
        child = _element(head, pos)
        if child is None:
            return
        element_id, start, length = child
        if length is None:
            return  # a live recording's cluster of unknown size: nothing more is declared
        if start + length > rf.size:
            what = f"its Matroska element 0x{element_id:X} (from byte {pos:,})"
            raise Truncated.past_end(what, start + length, rf.size)
        pos = start + length


def _png(rf: RangedFile) -> None:
    head = _head(rf)
    pos = 8
    while pos + 8 <= len(head):
        end = pos + 12 + int.from_bytes(head[pos : pos + 4], "big")
        kind = head[pos + 4 : pos + 8]
        if end > rf.size:
            what = f"its {_chunk_name(kind)} chunk (from byte {pos:,})"
            raise Truncated.past_end(what, end, rf.size)
        if kind == b"IEND":
            return
        pos = end
    if len(head) == rf.size:  # the whole file is in hand, and no chunk was the end
        raise Truncated(
            f"it ends after {rf.size:,} bytes without the IEND chunk every PNG ends with"
        )


def _jpeg(rf: RangedFile) -> None:
    head = _head(rf)
    if len(head) == rf.size and b"\xff\xd9" not in head[2:]:  # the whole file is in hand
        raise Truncated(
            f"it ends after {rf.size:,} bytes without the end-of-image marker every JPEG ends with"
        )


def _bmp(rf: RangedFile) -> None:
    head = _head(rf)[:38]
    if len(head) < 38:
        return
    (file_size,) = struct.unpack("<I", head[2:6])
    (pixels_at,) = struct.unpack("<I", head[10:14])
    (header_size,) = struct.unpack("<I", head[14:18])
    if file_size > rf.size:
        raise Truncated.past_end("its BMP header's file size", file_size, rf.size)
    if header_size >= 40:  # BITMAPINFOHEADER and later declare the pixel array's size
        (image_size,) = struct.unpack("<I", head[34:38])
        if image_size and pixels_at + image_size > rf.size:
            raise Truncated.past_end("its pixel array", pixels_at + image_size, rf.size)


# MPEG audio: bitrates (kbit/s) and sample rates by version, for the first frame's length.
_BITRATES = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_BITRATES[(2, 3)] = _BITRATES[(2, 2)]


def _mp3(rf: RangedFile) -> None:
    head = _head(rf)
    audio = 0
    if head.startswith(b"ID3") and len(head) >= 10:
        size = 0
        for byte in head[6:10]:  # "syncsafe": 7 bits a byte
            size = (size << 7) | (byte & 0x7F)
        audio = 10 + size + (10 if head[5] & 0x10 else 0)
        if audio > rf.size:
            raise Truncated.past_end("its ID3v2 tag", audio, rf.size)
    stream_bytes = _vbr_header_bytes(head[audio : audio + 256])
    # Compared with the whole size: some encoders count the ID3 tag in the stream length.
    if stream_bytes and stream_bytes > rf.size:
        raise Truncated.past_end("its audio stream (as its VBR header declares)",
                                 audio + stream_bytes, rf.size)  # fmt: skip


def _vbr_header_bytes(frame: bytes) -> int | None:
    """The stream length a first frame's Xing/Info or VBRI header declares, if any."""
    if len(frame) < 4 or frame[0] != 0xFF or frame[1] & 0xE0 != 0xE0:
        return None
    at = max(frame.find(b"Xing", 4, 64), frame.find(b"Info", 4, 64))
    if at > 0 and len(frame) >= at + 16:
        (flags,) = struct.unpack(">I", frame[at + 4 : at + 8])
        if flags & 0x2:
            field = at + 8 + (4 if flags & 0x1 else 0)
            return int(struct.unpack(">I", frame[field : field + 4])[0])
        return None
    if frame[36:40] == b"VBRI" and len(frame) >= 50:
        return int(struct.unpack(">I", frame[46:50])[0])
    return None


def _flac(rf: RangedFile) -> None:
    head = _head(rf)
    pos = 4
    while pos + 4 <= len(head):
        last = head[pos] & 0x80
        length = int.from_bytes(head[pos + 1 : pos + 4], "big")
        end = pos + 4 + length
        if end > rf.size:
            raise Truncated.past_end(f"its metadata block (from byte {pos:,})", end, rf.size)
        if last:
            return
        pos = end


_LINEARIZED_LENGTH = re.compile(rb"/Linearized\b[^>]*?/L\s+(\d+)", re.S)
_STARTXREF = re.compile(rb"startxref\s+(\d+)")


def _pdf(rf: RangedFile) -> None:
    linearized = _LINEARIZED_LENGTH.search(_head(rf)[:1024])
    if linearized and int(linearized.group(1)) > rf.size:
        raise Truncated.past_end("its linearization header's file length",
                                 int(linearized.group(1)), rf.size)  # fmt: skip
    tail = rf.pread(max(0, rf.size - _PDF_TAIL), _PDF_TAIL)
    if b"%%EOF" not in tail:
        raise Truncated(
            f"it ends after {rf.size:,} bytes without the %%EOF marker every complete PDF ends with"
        )
    starts = _STARTXREF.findall(tail)
    if starts and int(starts[-1]) >= rf.size:
        raise Truncated.past_end("its cross-reference table", int(starts[-1]), rf.size)


def _chunk_name(kind: bytes) -> str:
    return kind.decode("latin-1").strip() if kind.isascii() and kind.strip() else repr(kind)


_CHECKS: dict[str, Callable[[RangedFile], None]] = {
    "webp": _riff,
    "wav": _riff,
    "avi": _riff,
    "webm": _ebml,
    "matroska": _ebml,
    "png": _png,
    "jpeg": _jpeg,
    "bmp": _bmp,
    "mp3": _mp3,
    "flac": _flac,
    "pdf": _pdf,
}
