"""Type detection from magic bytes and extension, and the wording of refusals."""

from __future__ import annotations

import pytest

from insitu.media import MediaFacts, rules
from insitu.media.sniff import extension_of, format_from_magic, looks_like_text

DICOM_WITH_TIFF_PREAMBLE = b"II*\x00" + b"\x00" * 124 + b"DICM"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
        (b"GIF89a\x01\x00\x01\x00", "gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "avi"),
        (b"MM\x00*\x00\x00\x00\x08", "tiff"),
        (DICOM_WITH_TIFF_PREAMBLE, "dicom"),
        (b"%PDF-1.7\n", "pdf"),
        (b"\x00\x00\x00\x20ftypisom", "mp4"),
        (b"\x00\x00\x00\x20ftypM4A ", "m4a"),
        (b"\x00\x00\x00\x14ftypqt  ", "mov"),
        (b"\x00\x00\x00\x18ftypheic", "heif"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "webm"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x82\x88matroska", "matroska"),
        (b"ID3\x04\x00", "mp3"),
        (b"\xff\xfb\x90\x00", "mp3"),
        (b"\xff\xf1\x50\x80", "aac"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"OggS\x00\x02", "ogg"),
        (b"hello world", None),
    ],
)
def test_sniff_names_the_format_from_its_magic_bytes(head: bytes, expected: str | None) -> None:
    found = format_from_magic(head)
    assert (found.name if found else None) == expected


def test_sniff_takes_the_extension_of_the_last_path_component() -> None:
    assert extension_of("a.b/photo.JPG") == "jpg"
    assert extension_of("dir.d/README") is None
    assert extension_of("data/.hidden") is None


def test_sniff_tells_utf8_text_even_when_the_head_cuts_a_character() -> None:
    assert looks_like_text("é".encode() * 10 + "é".encode()[:1])
    assert not looks_like_text(b"\x00\x01binary")
    assert not looks_like_text("café".encode("latin-1") + b" and more")


def test_rules_accept_h264_aac_mp4() -> None:
    facts = MediaFacts("video", "mp4", "video/mp4", video_codec="h264", audio_codec="aac")
    assert rules.check(facts, "a.mp4", max_pixels=10) is None


def test_rules_refuse_opus_audio_files_never() -> None:
    facts = MediaFacts("audio", "opus", "audio/ogg", audio_codec="opus")
    assert rules.check(facts, "a.opus", max_pixels=10) is None


def test_rules_refuse_an_unplayable_audio_codec_with_a_command() -> None:
    facts = MediaFacts("audio", "wma", "audio/x-ms-wma", audio_codec="wmav2")
    failure = rules.check(facts, "talk.wma", max_pixels=10)
    assert failure is not None and failure.code == "unsupported_audio_codec"
    assert failure.fix.endswith("ffmpeg -i talk.wma -c:a aac talk.m4a")


def test_rules_name_the_output_differently_from_an_mp4_input() -> None:
    assert rules.reencode_command("x/clip.mp4").endswith(" clip-fixed.mp4")
    assert rules.reencode_command("x/clip.webm").endswith(" clip.mp4")
