"""The shapes the probe speaks in: its options, the facts it learns, and how it fails."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from insitu.config import Settings

MEDIA_KINDS = ("image", "video", "audio", "text", "dicom", "pdf")

# Pillow refuses images above this many pixels (twice its MAX_IMAGE_PIXELS warning level):
# a header this large is a decompression bomb whatever the file's byte size.
DEFAULT_MAX_IMAGE_PIXELS = 178_956_970


@dataclass(frozen=True)
class ProbeOptions:
    """How much a probe may read, and what the project accepts."""

    byte_budget: int = 4 * 1024 * 1024  # hard cap of bytes read per file
    text_max_bytes: int = 1024 * 1024
    allowed_kinds: frozenset[str] | None = None  # a project's restriction; None = all
    # The first request reads this much (every image and DICOM header measured fits);
    # a miss after a seek starts again at this size, sequential misses double it.
    read_ahead: int = 16 * 1024
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS

    @classmethod
    def from_settings(
        cls, settings: Settings, *, allowed_kinds: frozenset[str] | None = None
    ) -> ProbeOptions:
        """The options insitu's settings (INSITU_PROBE_BYTE_BUDGET, ...) and a project ask for."""
        return cls(
            byte_budget=settings.probe_byte_budget,
            text_max_bytes=settings.text_max_bytes,
            allowed_kinds=allowed_kinds,
        )


@dataclass(frozen=True)
class MediaFacts:
    """What insitu stores about one file: never its content."""

    kind: str
    extension: str | None
    mime_type: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    frame_rate: float | None = None
    frame_count: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeFailure:
    """Why a file was refused: a stable code, a plain reason, and what to do about it."""

    code: str
    reason: str
    fix: str


@dataclass(frozen=True)
class ProbeResult:
    """Facts or a failure (exactly one is set), and what learning them cost."""

    facts: MediaFacts | None
    failure: ProbeFailure | None
    bytes_read: int
    requests: int

    @property
    def ok(self) -> bool:
        return self.failure is None


class CorruptHeader(ValueError):
    """A parser found bytes that are not the header the file's type promises."""


class Truncated(CorruptHeader):
    """The file's own structure says it goes on past the stored object's end: it was cut off."""

    @classmethod
    def past_end(cls, what: str, declared_end: int, size: int) -> Truncated:
        return cls(f"{what} runs to byte {declared_end:,}, but the object has {size:,} bytes")
