"""probe_object end to end: fixtures served by moto through the real S3 provider."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from insitu.errors import ObjectNotFound
from insitu.media import ProbeOptions, ProbeResult, probe_object, reads_past
from tests.images import png

Probe = Callable[..., ProbeResult]

ACCEPTED: dict[str, dict[str, Any]] = {
    # images
    "photo.jpg": {
        "kind": "image",
        "mime_type": "image/jpeg",
        "extension": "jpg",
        "width": 64,
        "height": 48,
    },
    "rotated.jpg": {"kind": "image", "width": 48, "height": 64, "details": {"orientation": 6}},
    "upside_down.jpg": {"kind": "image", "width": 64, "height": 48, "details": {"orientation": 3}},
    "big_exif.jpg": {"kind": "image", "width": 48, "height": 64, "details": {"orientation": 8}},
    "image.png": {
        "kind": "image",
        "mime_type": "image/png",
        "extension": "png",
        "width": 40,
        "height": 30,
    },
    "image.gif": {"kind": "image", "mime_type": "image/gif", "width": 40, "height": 30},
    "image.bmp": {"kind": "image", "mime_type": "image/bmp", "width": 40, "height": 30},
    "image.tif": {
        "kind": "image",
        "mime_type": "image/tiff",
        "extension": "tif",
        "width": 40,
        "height": 30,
    },
    "lossy.webp": {"kind": "image", "mime_type": "image/webp", "width": 40, "height": 30},
    "lossless.webp": {"kind": "image", "mime_type": "image/webp", "width": 40, "height": 30},
    "animated.webp": {"kind": "image", "width": 48, "height": 36, "details": {"animated": True}},
    # DICOM
    "ct.dcm": {
        "kind": "dicom",
        "mime_type": "application/dicom",
        "width": 128,
        "height": 128,
        "details": {"modality": "CT", "frames": 1},
    },
    "mr.dcm": {
        "kind": "dicom",
        "width": 64,
        "height": 64,
        "details": {"modality": "MR", "frames": 1},
    },
    "two_frames.dcm": {
        "kind": "dicom",
        "width": 100,
        "height": 100,
        "frame_count": 2,
        "details": {"modality": "OT", "frames": 2},
    },
    # video
    "h264_aac_end.mp4": {
        "kind": "video",
        "mime_type": "video/mp4",
        "extension": "mp4",
        "width": 160,
        "height": 120,
        "duration": 1.0,
        "video_codec": "h264",
        "audio_codec": "aac",
        "frame_rate": 25.0,
        "frame_count": 25,
        "details": {"index_at_start": False},
    },
    "h264_aac_start.mp4": {
        "kind": "video",
        "width": 160,
        "height": 120,
        "duration": 1.0,
        "video_codec": "h264",
        "audio_codec": "aac",
        "details": {"index_at_start": True},
    },
    "h264_silent.mp4": {
        "kind": "video",
        "video_codec": "h264",
        "audio_codec": None,
        "duration": 1.0,
    },
    "clip.mov": {
        "kind": "video",
        "mime_type": "video/quicktime",
        "extension": "mov",
        "video_codec": "h264",
        "audio_codec": "aac",
    },
    "clip.m4v": {
        "kind": "video",
        "mime_type": "video/mp4",
        "extension": "m4v",
        "video_codec": "h264",
    },
    # audio
    "tone.mp3": {"kind": "audio", "mime_type": "audio/mpeg", "audio_codec": "mp3", "duration": 1.0},
    "tone.m4a": {"kind": "audio", "mime_type": "audio/mp4", "audio_codec": "aac", "duration": 1.0},
    "tone.wav": {
        "kind": "audio",
        "mime_type": "audio/wav",
        "audio_codec": "pcm_s16le",
        "duration": 1.0,
    },
    "tone.flac": {
        "kind": "audio",
        "mime_type": "audio/flac",
        "audio_codec": "flac",
        "duration": 1.0,
    },
    "tone.ogg": {
        "kind": "audio",
        "mime_type": "audio/ogg",
        "audio_codec": "vorbis",
        "duration": 1.0,
    },
    "tone.opus": {"kind": "audio", "mime_type": "audio/ogg", "audio_codec": "opus"},
    "finding.mp4": {
        "kind": "video",
        "width": 320,
        "height": 240,
        "duration": 2.0,
        "video_codec": "h264",
        "audio_codec": "aac",
        "details": {"index_at_start": True},
    },
    "long_start.mp4": {"kind": "video", "width": 320, "height": 240, "duration": 8.0},
    "noise.png": {"kind": "image", "width": 160, "height": 120},
    "riff_counts_header.wav": {"kind": "audio", "audio_codec": "pcm_s16le", "duration": 1.0},
    "fragmented.mp4": {"kind": "video", "video_codec": "h264", "audio_codec": "aac"},
    "audio_only.mp4": {
        "kind": "audio",
        "mime_type": "audio/mp4",
        "extension": "mp4",
        "audio_codec": "aac",
        "video_codec": None,
        "width": None,
    },
    # text and PDF
    "snippet.txt": {"kind": "text", "mime_type": "text/plain", "details": {"text_chars": 28}},
    "bom.txt": {"kind": "text", "details": {"text_chars": 5}},
    "notes.md": {"kind": "text", "mime_type": "text/markdown", "extension": "md"},
    "doc.pdf": {
        "kind": "pdf",
        "mime_type": "application/pdf",
        "width": None,
        "details": {"page_count": 3, "page_width_pt": 200.0, "page_height_pt": 100.0},
    },
}

REFUSED = {
    "hevc.mp4": "unsupported_video_codec",
    "vp9_opus.webm": "unsupported_video_codec",
    "av1.mp4": "unsupported_video_codec",
    "xvid.avi": "unsupported_video_codec",
    "mp3_in.mp4": "unsupported_audio_codec",
    "h264.mkv": "unsupported_container",
    "h264.avi": "unsupported_container",
    "truncated.mp4": "truncated",
    "truncated.jpg": "truncated",
    "bomb.png": "pixel_bomb",
    "image.heic": "unsupported_format",
    "latin1.txt": "text_not_utf8",
    "utf16.txt": "text_not_utf8",
    "oversize.txt": "text_too_large",
    "blank.txt": "empty_file",
    "empty.txt": "empty_file",
    "random.bin": "unknown_type",
}


def _check(facts: Any, expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        if name == "details":
            assert {k: facts.details.get(k) for k in value} == value
        elif name == "duration" and value is not None:
            assert facts.duration == pytest.approx(value, abs=0.05)
        else:
            assert getattr(facts, name) == value, name


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_probe_reports_the_facts_of_each_supported_format(probe: Probe, name: str) -> None:
    result = probe(name)
    assert result.failure is None, result.failure
    assert result.facts is not None
    _check(result.facts, ACCEPTED[name])
    assert 0 < result.bytes_read <= ProbeOptions().byte_budget
    assert result.requests >= 1


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_probe_refuses_each_bad_file_with_its_code(probe: Probe, name: str) -> None:
    result = probe(name)
    assert result.facts is None
    assert result.failure is not None
    assert result.failure.code == REFUSED[name]
    assert name in result.failure.reason
    assert result.failure.fix


def test_probe_gives_the_exact_ffmpeg_command_for_a_webm(probe: Probe) -> None:
    failure = probe("vp9_opus.webm").failure
    assert failure is not None
    assert "vp9" in failure.reason
    assert failure.fix.endswith(
        "ffmpeg -i vp9_opus.webm -c:v libx264 -pix_fmt yuv420p -c:a aac "
        "-movflags +faststart vp9_opus.mp4"
    )


def test_probe_reencodes_only_the_audio_of_mp3_in_mp4(probe: Probe) -> None:
    failure = probe("mp3_in.mp4").failure
    assert failure is not None and "mp3" in failure.reason
    assert "-c:v copy -c:a aac" in failure.fix


def test_probe_quotes_file_names_in_the_fix(probe: Probe) -> None:
    failure = probe("hevc.mp4", key="clips/my holiday.mp4").failure
    assert failure is not None
    assert "ffmpeg -i 'my holiday.mp4' " in failure.fix
    assert failure.fix.endswith("'my holiday-fixed.mp4'")


def test_probe_stores_a_png_named_jpg_as_png(probe: Probe) -> None:
    facts = probe("actually_png.jpg").facts
    assert facts is not None
    assert (facts.mime_type, facts.extension) == ("image/png", "png")
    assert facts.details["named_as"] == "jpg"


@pytest.mark.parametrize("name", ["h264_aac_end.mp4", "h264_aac_start.mp4"])
def test_probe_reads_an_mp4_in_a_few_requests_wherever_its_index_is(
    probe: Probe, name: str
) -> None:
    result = probe(name)
    assert result.facts is not None
    assert result.requests <= 3


def test_probe_reads_one_request_for_a_small_image(probe: Probe) -> None:
    result = probe("image.png")
    assert (result.requests, result.bytes_read) == (1, 102)


def test_probe_skips_the_exif_block_on_the_way_to_the_jpeg_frame(probe: Probe) -> None:
    result = probe("big_exif.jpg")  # the frame header sits 40 KB in
    assert result.facts is not None
    assert result.requests == 2
    assert result.bytes_read < 20 * 1024


def test_probe_refuses_a_file_needing_more_than_the_budget(probe: Probe) -> None:
    result = probe("h264_aac_end.mp4", byte_budget=8 * 1024, read_ahead=4 * 1024)
    assert result.failure is not None
    assert result.failure.code == "over_budget"
    assert result.bytes_read <= 8 * 1024


def test_probe_applies_the_projects_size_limit_to_text(probe: Probe) -> None:
    result = probe("snippet.txt", text_max_bytes=10)
    assert result.failure is not None and result.failure.code == "text_too_large"


def test_probe_applies_a_configured_pixel_limit(probe: Probe) -> None:
    result = probe("photo.jpg", max_image_pixels=1000)
    assert result.failure is not None and result.failure.code == "pixel_bomb"


def test_probe_refuses_a_kind_the_project_does_not_accept_before_reading_more(
    probe: Probe,
) -> None:
    result = probe("h264_aac_end.mp4", allowed_kinds=frozenset({"image"}))
    assert result.failure is not None and result.failure.code == "kind_not_allowed"
    assert result.requests == 1


def test_probe_refuses_audio_in_an_mp4_for_a_video_only_project(probe: Probe) -> None:
    result = probe("audio_only.mp4", allowed_kinds=frozenset({"video"}))
    assert result.failure is not None and result.failure.code == "kind_not_allowed"
    assert "audio" in result.failure.reason


def test_probe_accepts_a_kind_the_project_accepts(probe: Probe) -> None:
    result = probe("photo.jpg", allowed_kinds=frozenset({"image", "video"}))
    assert result.facts is not None and result.facts.kind == "image"


def test_probe_raises_when_the_object_vanished(
    s3_store: Any, upload: Any, s3_client: Any, s3_bucket: str
) -> None:
    key = upload("photo.jpg")
    info = s3_store.head(key)
    s3_client.delete_object(Bucket=s3_bucket, Key=key)
    with pytest.raises(ObjectNotFound):
        probe_object(s3_store, info, ProbeOptions())


def test_probe_gives_the_same_answers_from_32_threads(s3_store: Any, upload: Any) -> None:
    names = sorted(ACCEPTED) + sorted(REFUSED)
    infos = [s3_store.head(upload(name)) for name in names]

    def run(info: Any) -> Any:
        result = probe_object(s3_store, info, ProbeOptions())
        return result.facts, result.failure, result.bytes_read, result.requests

    serial = [run(info) for info in infos]
    with ThreadPoolExecutor(max_workers=32) as pool:
        assert list(pool.map(run, infos * 2)) == serial * 2


# name -> what the reason names as running past the end (see media_files.cut_off)
TRUNCATED = {
    "cut_after_index.mp4": "its mdat box (from byte",
    "cut_mdat_to_end.mp4": "the media data its index (moov) points to",
    "cut_long.mp4": "its mdat box",
    "truncated.mp4": "its mdat box",
    "cut_index.mp4": "its moov box",
    "cut.mov": "its mdat box",
    "cut.m4a": "its mdat box",
    "cut.webm": "its Matroska Segment",
    "cut.mkv": "its Matroska Segment",
    "cut.avi": "its RIFF header",
    "cut.wav": "its RIFF header",
    "cut.flac": "its metadata block",
    "cut.mp3": "its audio stream (as its VBR header declares)",
    "cut.png": "its IDAT chunk",
    "cut_small.png": "without the IEND chunk",
    "truncated.jpg": "without the end-of-image marker",
    "cut.jpg": "without the end-of-image marker",
    "cut_exif.jpg": "its JPEG segment 0xE1 (from byte 20)",
    "cut.webp": "its RIFF header",
    "cut.bmp": "its BMP header's file size",
    "cut.pdf": "without the %%EOF marker",
    "cut.dcm": "its pixel data (from byte",
}


@pytest.mark.parametrize("name", sorted(TRUNCATED))
def test_probe_refuses_a_file_cut_off_after_its_header(
    probe: Probe, media_files: dict[str, Any], name: str
) -> None:
    size = media_files[name].stat().st_size
    result = probe(name)
    assert result.facts is None, result.facts
    assert result.failure is not None
    assert result.failure.code == "truncated", result.failure
    assert name in result.failure.reason
    assert TRUNCATED[name] in result.failure.reason
    assert f"the object has {size:,} bytes" in result.failure.reason or (
        f"after {size:,} bytes" in result.failure.reason
    )
    assert "upload the complete file again" in result.failure.fix


def test_probe_refuses_the_cut_off_video_of_the_finding_from_its_first_read(
    probe: Probe, media_files: dict[str, Any]
) -> None:
    whole = media_files["finding.mp4"].read_bytes()
    result = probe("cut_after_index.mp4")
    assert result.failure is not None and result.failure.code == "truncated"
    assert f"runs to byte {len(whole):,}, but the object has 4,000 bytes" in result.failure.reason
    assert (result.requests, result.bytes_read) == (1, 4000)


def test_probe_reads_only_the_head_of_a_cut_off_video(
    probe: Probe, media_files: dict[str, Any]
) -> None:
    """The check costs nothing beyond what probing the complete file reads."""
    size = media_files["cut_long.mp4"].stat().st_size
    complete = probe("long_start.mp4")
    result = probe("cut_long.mp4")
    assert result.failure is not None and result.failure.code == "truncated"
    assert result.requests <= complete.requests
    assert result.bytes_read <= complete.bytes_read < size


def test_only_video_and_audio_bigger_than_their_head_are_known_to_read_on(
    media_files: dict[str, Path],
) -> None:
    """An import probes a file from its head alone unless the probe will surely read on."""
    head = 16 * 1024
    video = media_files["h264_aac_end.mp4"].read_bytes()
    dicom = media_files["ct.dcm"].read_bytes()
    assert reads_past(video[:head], len(video))
    assert not reads_past(video[:head], head)  # a file that fits in its head
    assert not reads_past(dicom[:head], len(dicom))  # pydicom may stop within it
    assert not reads_past(png(40, 30)[:head], 10 * head)
