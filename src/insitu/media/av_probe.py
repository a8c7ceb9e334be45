"""Video and audio facts via PyAV (FFmpeg's demuxers), reading headers, decoding nothing big.

The container format comes from our sniffing, so FFmpeg does not probe it; ``probesize``
and ``fps_probe_size`` keep ``avformat_find_stream_info`` to the one packet it insists on.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from insitu.media.facts import CorruptHeader
from insitu.media.isobmff import check_sample_tables, walk_top_level
from insitu.media.rangedfile import RangedFile

# Our format name -> the FFmpeg demuxer that reads it.
DEMUXERS = {
    "mp4": "mov",
    "mov": "mov",
    "m4a": "mov",
    "webm": "matroska",
    "matroska": "matroska",
    "avi": "avi",
    "mp3": "mp3",
    "aac": "aac",
    "wav": "wav",
    "flac": "flac",
    "ogg": "ogg",
}
_CONTAINER_OPTIONS = {"probesize": "32", "fps_probe_size": "0"}
# PyAV's read size: small, so a seek to an 8-byte box header does not ask for 32 KiB.
_BUFFER_SIZE = 8 * 1024
_ATTACHED_PIC = 1024  # AV_DISPOSITION_ATTACHED_PIC: cover art, not a video track


@dataclass(frozen=True)
class StreamFacts:
    """What the container's header says about its first video and first audio stream."""

    has_video: bool
    has_audio: bool
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    video_codec: str | None = None
    video_tag: str | None = None
    audio_codec: str | None = None
    frame_rate: float | None = None
    frame_count: int | None = None
    details: dict[str, Any] | None = None


def probe_streams(rf: RangedFile, fmt: str) -> StreamFacts:
    """Open the file with FFmpeg's demuxer for ``fmt`` and read its streams' parameters."""
    import av  # imported here: images and text never need FFmpeg

    details: dict[str, Any] = {}
    if DEMUXERS[fmt] == "mov":
        moov = walk_top_level(rf)  # raises Truncated for a file cut off after its index
        if moov is not None:
            check_sample_tables(rf, moov)
            details["index_at_start"] = moov.start < rf.size // 2
    try:
        container = av.open(
            rf,
            format=DEMUXERS[fmt],
            container_options=_CONTAINER_OPTIONS,
            buffer_size=_BUFFER_SIZE,
        )
    except av.FFmpegError as exc:
        _reraise_read_error(rf, exc)
        raise CorruptHeader(f"FFmpeg cannot read the header: {_plain(exc)}") from exc
    with container:
        _reraise_read_error(rf, None)
        return _facts(container, details)


def _facts(container: Any, details: dict[str, Any]) -> StreamFacts:
    videos = [
        s
        for s in container.streams.video
        if not int(getattr(s, "disposition", 0) or 0) & _ATTACHED_PIC
    ]
    audios = list(container.streams.audio)
    if not videos and not audios:
        raise CorruptHeader("the container holds no video or audio stream")
    duration = container.duration / 1_000_000 if container.duration else None
    video = videos[0] if videos else None
    audio = audios[0] if audios else None
    if duration is None:
        duration = _stream_duration(video or audio)
    facts: dict[str, Any] = {"duration": duration, "details": details}
    if audio is not None:
        facts["audio_codec"] = _codec_name(audio)
        details["sample_rate"] = audio.codec_context.sample_rate or None
        details["channels"] = audio.codec_context.channels or None
    if video is not None:
        rate = video.average_rate or video.guessed_rate or video.base_rate
        facts.update(
            width=video.codec_context.width or None,
            height=video.codec_context.height or None,
            video_codec=_codec_name(video),
            video_tag=video.codec_tag or None,
            frame_rate=round(float(rate), 3) if rate else None,
            frame_count=video.frames or None,
        )
    if len(videos) > 1 or len(audios) > 1:
        details["streams"] = {"video": len(videos), "audio": len(audios)}
    return StreamFacts(has_video=video is not None, has_audio=audio is not None, **facts)


def _codec_name(stream: Any) -> str:
    """The codec's canonical name (``mp3``, ``av1``), not the decoder's (``mp3float``)."""
    codec = stream.codec_context.codec
    return str(getattr(codec, "canonical_name", None) or codec.name)


def _stream_duration(stream: Any) -> float | None:
    if stream is None or not stream.duration or stream.time_base is None:
        return None
    return float(stream.duration * Fraction(stream.time_base))


def _reraise_read_error(rf: RangedFile, exc: BaseException | None) -> None:
    """A failed read inside FFmpeg is a failed read, not a corrupt file: raise it as itself.

    FFmpeg may report a read error as end of file and carry on, so look even on success.
    """
    if rf.error is not None:
        raise rf.error from exc


def _plain(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)
