"""Which files insitu accepts, and what it tells the customer about each one it refuses.

Every refusal is built here, so its code, reason and fix read the same wherever it is
detected. To change what is accepted, edit the sets below or add a function to ``RULES``:
a rule takes the probed facts and the file name and returns a ``ProbeFailure`` or None.

    code                     when
    empty_file               the object has 0 bytes (or a text file only whitespace)
    unknown_type             neither the first bytes nor the extension name a known type
    unsupported_format       a known type insitu does not take (HEIC/AVIF images)
    corrupt_header           the header is truncated or not what the type promises
    truncated                the header declares more bytes than the object has (cut off)
    over_budget              learning the facts would read more than the byte budget
    kind_not_allowed         the project does not accept this media kind
    pixel_bomb               the image claims more pixels than any labeler can open
    text_not_utf8            a text file is not UTF-8
    text_too_large           a text file is larger than one snippet may be
    unsupported_video_codec  video is not H.264
    unsupported_audio_codec  audio in a video is not AAC; an audio file's codec is not playable
    unsupported_container    H.264/AAC in a container browsers do not play (AVI, Matroska)
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from posixpath import basename

from insitu.media.facts import MediaFacts, ProbeFailure

# What labelers' browsers play: the reference product accepts H.264 video with AAC audio.
VIDEO_CODECS = {"h264"}
AUDIO_CODECS_IN_VIDEO = {"aac"}
VIDEO_CONTAINERS = {"video/mp4", "video/quicktime"}
# Audio-only files: what every current browser plays.
AUDIO_CODECS = {"aac", "mp3", "flac", "vorbis", "opus"}
AUDIO_CODEC_PREFIXES = ("pcm_",)  # WAV's linear PCM in its many sample formats

Rule = Callable[[MediaFacts, str], ProbeFailure | None]


def _name(key: str) -> str:
    return basename(key) or key


def _output(key: str, ext: str) -> str:
    stem, dot, current = _name(key).rpartition(".")
    stem = stem if dot and stem else _name(key)
    return f"{stem}-fixed.{ext}" if current.lower() == ext else f"{stem}.{ext}"


def reencode_command(key: str, *, video: str = "libx264", audio: str | None = "aac") -> str:
    """The ffmpeg command turning ``key`` into an H.264/AAC MP4 that browsers play.

    ``video``/``audio`` are ffmpeg encoders, or ``copy`` to keep a stream that is fine.
    """
    video_args = "-c:v copy" if video == "copy" else f"-c:v {video} -pix_fmt yuv420p"
    audio_args = f" -c:a {audio}" if audio else ""
    return (
        f"ffmpeg -i {shlex.quote(_name(key))} {video_args}{audio_args} -movflags +faststart "
        f"{shlex.quote(_output(key, 'mp4'))}"
    )


# -- rules on probed facts ----------------------------------------------------------------


def video_codec_is_h264(facts: MediaFacts, key: str) -> ProbeFailure | None:
    if facts.kind != "video" or facts.video_codec in VIDEO_CODECS:
        return None
    codec = facts.video_codec or "unknown"
    return ProbeFailure(
        "unsupported_video_codec",
        f"{_name(key)} is {codec} video; labelers' clients play only H.264 video with AAC audio",
        f"re-encode it: {reencode_command(key, audio='aac' if facts.audio_codec else None)}",
    )


def video_audio_is_aac(facts: MediaFacts, key: str) -> ProbeFailure | None:
    if facts.kind != "video" or facts.audio_codec is None:
        return None
    if facts.audio_codec in AUDIO_CODECS_IN_VIDEO:
        return None
    return ProbeFailure(
        "unsupported_audio_codec",
        f"{_name(key)} has {facts.audio_codec} audio; video must carry AAC audio (or none)",
        f"re-encode its audio: {reencode_command(key, video='copy')}",
    )


def video_container_plays(facts: MediaFacts, key: str) -> ProbeFailure | None:
    if facts.kind != "video" or facts.mime_type in VIDEO_CONTAINERS:
        return None
    return ProbeFailure(
        "unsupported_container",
        f"{_name(key)} is H.264 video in {facts.mime_type}, which browsers do not play",
        "rewrap it without re-encoding: "
        + reencode_command(key, video="copy", audio="copy" if facts.audio_codec else None),
    )


def audio_codec_plays(facts: MediaFacts, key: str) -> ProbeFailure | None:
    codec = facts.audio_codec
    if facts.kind != "audio" or codec in AUDIO_CODECS:
        return None
    if codec and codec.startswith(AUDIO_CODEC_PREFIXES):
        return None
    return ProbeFailure(
        "unsupported_audio_codec",
        f"{_name(key)} is {codec or 'unknown'} audio, which browsers do not play",
        f"re-encode it: ffmpeg -i {shlex.quote(_name(key))} -c:a aac "
        f"{shlex.quote(_output(key, 'm4a'))}",
    )


def image_is_not_a_bomb(max_pixels: int) -> Rule:
    def rule(facts: MediaFacts, key: str) -> ProbeFailure | None:
        if facts.kind != "image" or not facts.width or not facts.height:
            return None
        if facts.width * facts.height <= max_pixels:
            return None
        return pixel_bomb(key, facts.width, facts.height, max_pixels)

    return rule


RULES: tuple[Rule, ...] = (
    video_codec_is_h264,
    video_audio_is_aac,
    video_container_plays,
    audio_codec_plays,
)


def check(facts: MediaFacts, key: str, *, max_pixels: int) -> ProbeFailure | None:
    """The first rule the facts break, or None when insitu accepts the file."""
    for rule in (image_is_not_a_bomb(max_pixels), *RULES):
        failure = rule(facts, key)
        if failure is not None:
            return failure
    return None


# -- refusals found while probing ---------------------------------------------------------


def empty_file(key: str, detail: str = "it has 0 bytes") -> ProbeFailure:
    return ProbeFailure(
        "empty_file",
        f"{_name(key)} is empty: {detail}",
        "upload the file's content again, or remove it from the import",
    )


def unknown_type(key: str, extension: str | None) -> ProbeFailure:
    named = f"named .{extension}" if extension else "without an extension"
    return ProbeFailure(
        "unknown_type",
        f"{_name(key)} ({named}) starts with bytes of no image, video, audio, DICOM, PDF "
        "or text type insitu knows",
        "convert it to a supported type (JPEG, PNG, MP4 with H.264/AAC, MP3, DICOM, PDF, "
        "UTF-8 text), or leave it out of the import",
    )


def unsupported_format(key: str, format_name: str) -> ProbeFailure:
    output = shlex.quote(_output(key, "jpg"))
    return ProbeFailure(
        "unsupported_format",
        f"{_name(key)} is a {format_name.upper()} image, which labelers' clients do not open",
        f"convert it to JPEG or PNG, e.g. ffmpeg -i {shlex.quote(_name(key))} {output}",
    )


def corrupt_header(key: str, format_name: str, detail: str) -> ProbeFailure:
    return ProbeFailure(
        "corrupt_header",
        f"{_name(key)} looks like {format_name.upper()} but its header cannot be read: {detail}",
        "the file is truncated or damaged: upload it again from the original, "
        "and check that it opens locally",
    )


def truncated(key: str, format_name: str, detail: str) -> ProbeFailure:
    return ProbeFailure(
        "truncated",
        f"{_name(key)} is a truncated {format_name.upper()}: {detail}; "
        "the rest of the file is missing",
        "the upload or copy was cut off: upload the complete file again from the original "
        "(its size must match the original's), and check that it plays locally",
    )


def over_budget(key: str, budget: int, size: int) -> ProbeFailure:
    return ProbeFailure(
        "over_budget",
        f"learning {_name(key)}'s dimensions and duration needs more than {budget:,} of "
        f"its {size:,} bytes; insitu reads headers only",
        "for video, move the index to the start (ffmpeg -i in.mp4 -c copy -movflags "
        "+faststart out.mp4); otherwise raise INSITU_PROBE_BYTE_BUDGET",
    )


def kind_not_allowed(key: str, kind: str, allowed: Iterable[str]) -> ProbeFailure:
    accepted = ", ".join(sorted(allowed)) or "nothing"
    return ProbeFailure(
        "kind_not_allowed",
        f"{_name(key)} is {kind}, and this project accepts only {accepted}",
        "import it into a project that accepts this kind, or change the project's "
        "accepted media kinds",
    )


def pixel_bomb(key: str, width: int, height: int, max_pixels: int) -> ProbeFailure:
    return ProbeFailure(
        "pixel_bomb",
        f"{_name(key)} claims {width}x{height} = {width * height:,} pixels, more than the "
        f"{max_pixels:,} an image may have (a decompression bomb or a scan too large to label)",
        "downscale or tile it below the limit, e.g. ffmpeg -i "
        f"{shlex.quote(_name(key))} -vf scale=iw/4:ih/4 {shlex.quote(_output(key, 'png'))}",
    )


def text_not_utf8(key: str, detail: str) -> ProbeFailure:
    output = shlex.quote(_output(key, "txt"))
    return ProbeFailure(
        "text_not_utf8",
        f"{_name(key)} is not UTF-8 text: {detail}",
        f"convert it to UTF-8, e.g. iconv -f LATIN1 -t UTF-8 {shlex.quote(_name(key))} "
        f"> {output} (use the file's real encoding)",
    )


def text_too_large(key: str, size: int, limit: int) -> ProbeFailure:
    return ProbeFailure(
        "text_too_large",
        f"{_name(key)} has {size:,} bytes; one text snippet may have at most {limit:,}",
        "split it into one file per snippet, or raise INSITU_TEXT_MAX_BYTES",
    )
