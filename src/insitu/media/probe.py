"""Probe one stored object: sniff its type, read its header facts, apply the rules.

The cheap path for an image is one ranged read of the head, a magic-byte sniff and a
hand-written header parse. Video and audio go to PyAV, DICOM to pydicom, both over the
same budgeted ``RangedFile``. A bad file becomes a ``ProbeFailure``; a failing store
(``StorageError``: gone, denied, unreachable) propagates for the caller to record.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any

from insitu.errors import StorageError
from insitu.media import rules
from insitu.media.extent import check_extent
from insitu.media.facts import (
    CorruptHeader,
    MediaFacts,
    ProbeFailure,
    ProbeOptions,
    ProbeResult,
    Truncated,
)
from insitu.media.images import (
    ImageHeader,
    bmp_header,
    gif_header,
    jpeg_header,
    png_header,
    tiff_header,
)
from insitu.media.rangedfile import BudgetExceeded, RangedFile
from insitu.media.sniff import (
    FORMATS,
    MIME_BY_KIND,
    TEXT_MIME,
    Format,
    extension_of,
    format_from_extension,
    format_from_magic,
    looks_like_text,
)
from insitu.storage.base import ObjectInfo, ObjectStore

log = logging.getLogger(__name__)


def _webp(rf: RangedFile) -> ImageHeader:
    from insitu.media.webp import webp_header

    return webp_header(rf)


IMAGE_PARSERS: dict[str, Callable[[RangedFile], ImageHeader]] = {
    "png": png_header,
    "jpeg": jpeg_header,
    "gif": gif_header,
    "bmp": bmp_header,
    "tiff": tiff_header,
    "webp": _webp,
}

Outcome = MediaFacts | ProbeFailure


def probe_object(
    store: ObjectStore, info: ObjectInfo, options: ProbeOptions, *, head: bytes | None = None
) -> ProbeResult:
    """Facts about ``info``'s object, or why it is refused, from at most the byte budget.

    ``head``: its first ``read_ahead`` bytes (all of a smaller file), if read already."""
    if info.size == 0:
        return ProbeResult(None, rules.empty_file(info.key), bytes_read=0, requests=0)
    rf = RangedFile(
        store,
        info.key,
        info.size,
        budget=options.byte_budget,
        read_ahead=options.read_ahead,
        head=head,
    )
    try:
        outcome = _probe(rf, info.key, options)
    except BudgetExceeded:
        outcome = rules.over_budget(info.key, options.byte_budget, info.size)
    except StorageError:
        raise
    except Exception as exc:  # a parser choking on a hostile file must not stop an import
        log.warning("probe of %s failed unexpectedly", info.key, exc_info=True)
        outcome = rules.corrupt_header(info.key, "a media file", f"{type(exc).__name__}: {exc}")
    if isinstance(outcome, ProbeFailure):
        return ProbeResult(None, outcome, rf.bytes_read, rf.requests)
    return ProbeResult(outcome, None, rf.bytes_read, rf.requests)


def reads_past(head: bytes, size: int) -> bool:
    """Whether probing a file of ``size`` bytes that starts with ``head`` reads on past it for
    sure: video and audio bigger than their head (PyAV looks for stream info further in)."""
    if len(head) >= size:
        return False
    fmt = format_from_magic(head)
    return fmt is not None and fmt.kind in ("video", "audio")


def _probe(rf: RangedFile, key: str, options: ProbeOptions) -> Outcome:
    ext = extension_of(key)
    head = rf.pread(0, options.read_ahead)
    fmt = format_from_magic(head) or format_from_extension(ext)
    if fmt is None and looks_like_text(head):
        fmt = FORMATS["text"]
    if fmt is None:
        return rules.unknown_type(key, ext)
    if fmt.name == "heif":
        return rules.unsupported_format(key, "HEIF/AVIF")
    early = _kind_refused(key, fmt, options)
    if early:
        return early
    try:
        check_extent(rf, fmt.name)
        outcome = _PROBERS[fmt.kind](rf, key, fmt, ext, options)
    except Truncated as exc:
        return rules.truncated(key, fmt.name, str(exc))
    except (CorruptHeader, struct.error) as exc:
        return rules.corrupt_header(key, fmt.name, str(exc) or "it is truncated")
    if isinstance(outcome, ProbeFailure):
        return outcome
    allowed = options.allowed_kinds
    if allowed is not None and outcome.kind not in allowed:
        return rules.kind_not_allowed(key, outcome.kind, allowed)
    return rules.check(outcome, key, max_pixels=options.max_image_pixels) or outcome


def _kind_refused(key: str, fmt: Format, options: ProbeOptions) -> ProbeFailure | None:
    """Refuse before reading further when no kind this format can turn out to be is allowed."""
    allowed = options.allowed_kinds
    if allowed is None:
        return None
    possible = {"video", "audio"} if fmt.kind_by_streams else {fmt.kind}
    if possible & allowed:
        return None
    return rules.kind_not_allowed(key, fmt.kind, allowed)


def _extension(fmt: Format, ext: str | None) -> tuple[str, dict[str, Any]]:
    """The stored extension: the name's when it fits the content, else the content's."""
    if ext in fmt.extensions:
        return ext, {}
    return fmt.extensions[0], ({"named_as": ext} if ext else {})


def _image(
    rf: RangedFile, key: str, fmt: Format, ext: str | None, options: ProbeOptions
) -> Outcome:
    header = IMAGE_PARSERS[fmt.name](rf)
    extension, details = _extension(fmt, ext)
    return MediaFacts(
        kind="image",
        extension=extension,
        mime_type=fmt.mime_type,
        width=header.width,
        height=header.height,
        details={**header.details, **details},
    )


def _dicom(
    rf: RangedFile, key: str, fmt: Format, ext: str | None, options: ProbeOptions
) -> Outcome:
    from insitu.media.dicom import dicom_header

    header = dicom_header(rf)
    extension, details = _extension(fmt, ext)
    details["frames"] = header.frames
    if header.modality:
        details["modality"] = header.modality
    return MediaFacts(
        kind="dicom",
        extension=extension,
        mime_type=fmt.mime_type,
        width=header.columns,
        height=header.rows,
        frame_count=header.frames,
        details=details,
    )


def _media(
    rf: RangedFile, key: str, fmt: Format, ext: str | None, options: ProbeOptions
) -> Outcome:
    from insitu.media.av_probe import probe_streams

    streams = probe_streams(rf, fmt.name)
    kind = "video" if streams.has_video else "audio"
    extension, details = _extension(fmt, ext)
    return MediaFacts(
        kind=kind,
        extension=extension,
        mime_type=MIME_BY_KIND.get((fmt.name, kind), fmt.mime_type),
        width=streams.width,
        height=streams.height,
        duration=streams.duration,
        video_codec=streams.video_codec,
        audio_codec=streams.audio_codec,
        frame_rate=streams.frame_rate,
        frame_count=streams.frame_count,
        details={**(streams.details or {}), **details},
    )


def _text(rf: RangedFile, key: str, fmt: Format, ext: str | None, options: ProbeOptions) -> Outcome:
    from insitu.media.text import check_text

    if rf.size > options.text_max_bytes:
        return rules.text_too_large(key, rf.size, options.text_max_bytes)
    checked = check_text(rf)
    if checked.problem == "text_not_utf8":
        return rules.text_not_utf8(key, checked.detail)
    if checked.problem == "empty_file":
        return rules.empty_file(key, checked.detail)
    extension, details = _extension(fmt, ext)
    return MediaFacts(
        kind="text",
        extension=extension,
        mime_type=TEXT_MIME.get(extension, fmt.mime_type),
        details={"text_chars": checked.chars, **details},
    )


def _pdf(rf: RangedFile, key: str, fmt: Format, ext: str | None, options: ProbeOptions) -> Outcome:
    from insitu.media.pdf import pdf_details

    extension, details = _extension(fmt, ext)
    return MediaFacts(
        kind="pdf",
        extension=extension,
        mime_type=fmt.mime_type,
        details={**pdf_details(rf), **details},
    )


_PROBERS: dict[str, Callable[[RangedFile, str, Format, str | None, ProbeOptions], Outcome]] = {
    "image": _image,
    "dicom": _dicom,
    "video": _media,
    "audio": _media,
    "text": _text,
    "pdf": _pdf,
}
