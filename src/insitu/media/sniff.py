"""What a file is: from its first bytes (magic numbers) first, its name's extension second."""

from __future__ import annotations

from dataclasses import dataclass
from posixpath import basename


@dataclass(frozen=True)
class Format:
    """One file format insitu knows: its media kind, MIME type and usual extensions."""

    name: str
    kind: str
    mime_type: str
    extensions: tuple[str, ...]
    # Whether probing may still change the kind (an MP4 holding only audio is audio).
    kind_by_streams: bool = False


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("jpeg", "image", "image/jpeg", ("jpg", "jpeg", "jpe", "jfif")),
        Format("png", "image", "image/png", ("png",)),
        Format("gif", "image", "image/gif", ("gif",)),
        Format("bmp", "image", "image/bmp", ("bmp", "dib")),
        Format("tiff", "image", "image/tiff", ("tif", "tiff")),
        Format("webp", "image", "image/webp", ("webp",)),
        Format("heif", "image", "image/heif", ("heic", "heif", "avif")),
        Format("dicom", "dicom", "application/dicom", ("dcm", "dicom", "dic")),
        Format("pdf", "pdf", "application/pdf", ("pdf",)),
        Format("mp4", "video", "video/mp4", ("mp4", "m4v"), kind_by_streams=True),
        Format("mov", "video", "video/quicktime", ("mov", "qt"), kind_by_streams=True),
        Format("m4a", "audio", "audio/mp4", ("m4a", "m4b", "mp4"), kind_by_streams=True),
        Format("webm", "video", "video/webm", ("webm",), kind_by_streams=True),
        Format("matroska", "video", "video/x-matroska", ("mkv", "mka", "mk3d"), True),
        Format("avi", "video", "video/x-msvideo", ("avi",), kind_by_streams=True),
        Format("mp3", "audio", "audio/mpeg", ("mp3",)),
        Format("aac", "audio", "audio/aac", ("aac",)),
        Format("wav", "audio", "audio/wav", ("wav", "wave")),
        Format("flac", "audio", "audio/flac", ("flac",)),
        Format("ogg", "audio", "audio/ogg", ("ogg", "oga", "ogv", "opus"), True),
        Format(
            "text",
            "text",
            "text/plain",
            (
                "txt",
                "text",
                "md",
                "csv",
                "tsv",
                "json",
                "jsonl",
                "ndjson",
                "xml",
                "html",
                "htm",
                "log",
                "yaml",
                "yml",
                "srt",
                "vtt",
            ),
        ),
    )
}

# The MIME type a probe reports when the streams decide a different kind than the container.
MIME_BY_KIND = {
    ("mp4", "audio"): "audio/mp4",
    ("mov", "audio"): "audio/mp4",
    ("m4a", "video"): "video/mp4",
    ("webm", "audio"): "audio/webm",
    ("matroska", "audio"): "audio/x-matroska",
    ("avi", "audio"): "audio/x-msvideo",
    ("ogg", "video"): "video/ogg",
}

TEXT_MIME = {
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "json": "application/json",
    "jsonl": "application/jsonl",
    "ndjson": "application/x-ndjson",
    "md": "text/markdown",
    "xml": "application/xml",
    "html": "text/html",
    "htm": "text/html",
    "yaml": "application/yaml",
    "yml": "application/yaml",
    "vtt": "text/vtt",
}

_BY_EXTENSION = {ext: f for f in reversed(FORMATS.values()) for ext in f.extensions}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P "}
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def extension_of(key: str) -> str | None:
    """The lower-case extension of an object key's last component, without the dot."""
    name = basename(key)
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem and ext else None


def format_from_magic(head: bytes) -> Format | None:
    """The format the first bytes announce, or None when they announce nothing known."""
    name = _magic_name(head)
    return FORMATS[name] if name else None


def format_from_extension(ext: str | None) -> Format | None:
    return _BY_EXTENSION.get(ext) if ext else None


def looks_like_text(head: bytes) -> bool:
    """Whether a file without magic reads as UTF-8 text (the head may cut a character)."""
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def _magic_name(head: bytes) -> str | None:  # noqa: C901 - one flat table of signatures
    if head[128:132] == b"DICM":  # first: a DICOM preamble may itself be a TIFF header
        return "dicom"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"RIFF") and len(head) >= 12:
        return {b"WEBP": "webp", b"WAVE": "wav", b"AVI ": "avi"}.get(head[8:12])
    if head.startswith(b"BM") and len(head) >= 26 and head[6:10] == b"\x00\x00\x00\x00":
        return "bmp"
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "heif"
        if brand in _AUDIO_BRANDS:
            return "m4a"
        return "mov" if brand == b"qt  " else "mp4"
    if head[4:8] in _QUICKTIME_ATOMS:
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm" if b"webm" in head[:64] else "matroska"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"ID3"):
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # MPEG audio frame sync: layer bits 00 are ADTS AAC, anything else MPEG-1/2 audio.
        return "aac" if head[1] & 0x06 == 0 else "mp3"
    return None
