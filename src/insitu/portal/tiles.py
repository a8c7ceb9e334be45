"""What one tile of the Assets grid shows: a file's name, its facts in words, and how to show it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from insitu.assets.models import (
    CANCELED,
    CHANGED_INVALID,
    CONNECTION_REMOVED,
    MOVED_OR_DELETED,
    RESTORABLE,
)

# What a browser draws in an <img> (a labeling tool's canvas takes the same); TIFF and HEIC it
# cannot, so those get a placeholder instead of a tile that looks broken.
BROWSER_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/bmp", "image/webp"})
BROWSER_IMAGE_EXTENSIONS = frozenset({"avif"})

KIND_NAMES = {
    "image": "Image",
    "video": "Video",
    "audio": "Audio",
    "text": "Text",
    "dicom": "DICOM",
    "pdf": "PDF",
}

# Why an asset left circulation, in a customer's words: (name, explanation).
REASONS = {
    CANCELED: ("Canceled", "taken out of circulation by a person"),
    MOVED_OR_DELETED: ("Moved or deleted", "its file is gone from the bucket"),
    CONNECTION_REMOVED: ("Connection deleted", "the connection it was read through was deleted"),
    CHANGED_INVALID: ("Changed, now invalid", "its file changed and no longer passes validation"),
}


@dataclass(frozen=True)
class Tile:
    id: str
    name: str
    location: str
    kind: str  # "image" or "video" (drawn from its URL), else "placeholder"
    label: str  # e.g. "PNG image"
    facts: list[str]
    url: str | None = None
    reason: str | None = None
    removed_at: datetime | None = None

    @property
    def reason_name(self) -> str:
        return REASONS.get(self.reason or "", (self.reason or "", ""))[0]

    @property
    def reason_why(self) -> str:
        return REASONS.get(self.reason or "", ("", ""))[1]

    @property
    def restorable(self) -> bool:
        return self.reason in RESTORABLE


def tile(asset: Any, url: str | None = None) -> Tile:
    """The tile of ``asset`` (an Asset, or a circulation row), drawn from ``url`` if it has one."""
    media_kind = asset.media_kind or "file"
    extension = (asset.extension or "").lower()
    label = f"{extension.upper()} {KIND_NAMES.get(media_kind, 'file').lower()}".strip()
    if media_kind == "dicom":
        label = "DICOM image"
    shown = "placeholder"
    if (
        url
        and media_kind == "image"
        and (asset.mime_type in BROWSER_IMAGES or extension in BROWSER_IMAGE_EXTENSIONS)
    ):
        shown = "image"
    elif url and media_kind == "video":
        shown = "video"
    return Tile(
        id=asset.id,
        name=asset.key.rpartition("/")[2] or asset.key,
        location=asset.location,
        kind=shown,
        label=label,
        facts=facts(asset),
        url=url,
        reason=getattr(asset, "removal_reason", None),
        removed_at=getattr(asset, "removed_at", None),
    )


def facts(asset: Any) -> list[str]:
    """Dimensions, duration, codecs and size, each as a person reads it."""
    said = []
    if asset.width and asset.height:
        said.append(f"{asset.width:,} × {asset.height:,} px")
    if asset.duration is not None:
        said.append(duration(asset.duration))
    codecs = " + ".join(c for c in (asset.video_codec, asset.audio_codec) if c)
    if codecs:
        said.append(codecs.upper().replace("H264", "H.264"))
    if asset.size is not None:
        said.append(size(asset.size))
    return said


def duration(seconds: float) -> str:
    """``1:05`` for 65 s, ``1:02:03`` past an hour, ``0.4 s`` under a second."""
    if seconds < 1:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def size(count: int) -> str:
    """``812 B``, ``1.2 KB``, ``3.4 MB``... (powers of 1,000, as storage consoles show)."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{count:,} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
