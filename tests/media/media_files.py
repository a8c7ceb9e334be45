"""Media fixtures made at test time (ffmpeg, Pillow, pydicom's bundled files): nothing committed.

``make_all(directory)`` writes every fixture and returns name -> path. ffmpeg jobs run in
parallel; the whole set takes a few seconds.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

VIDEO = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=1"]
AUDIO = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1"]
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]

# name -> ffmpeg arguments between the inputs and the output file
FFMPEG: dict[str, list[str]] = {
    "h264_aac_end.mp4": [*VIDEO, *AUDIO, *H264, "-c:a", "aac"],
    "h264_aac_start.mp4": [*VIDEO, *AUDIO, *H264, "-c:a", "aac", "-movflags", "+faststart"],
    "h264_silent.mp4": [*VIDEO, *H264, "-an"],
    "clip.mov": [*VIDEO, *AUDIO, *H264, "-c:a", "aac"],
    "clip.m4v": [*VIDEO, *AUDIO, *H264, "-c:a", "aac", "-f", "mp4"],
    "hevc.mp4": [
        *VIDEO,
        *AUDIO,
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        "log-level=error",
        "-tag:v",
        "hvc1",
        "-c:a",
        "aac",
    ],
    "vp9_opus.webm": [
        *VIDEO,
        *AUDIO,
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-c:a",
        "libopus",
    ],
    "av1.mp4": [*VIDEO, "-c:v", "libsvtav1", "-preset", "12", "-an"],
    "mp3_in.mp4": [*VIDEO, *AUDIO, *H264, "-c:a", "libmp3lame"],
    "h264.mkv": [*VIDEO, *AUDIO, *H264, "-c:a", "aac"],
    "h264.avi": [*VIDEO, *H264, "-an"],
    "xvid.avi": [*VIDEO, "-c:v", "mpeg4", "-an"],
    "tone.mp3": [*AUDIO, "-c:a", "libmp3lame"],
    "tone.m4a": [*AUDIO, "-c:a", "aac"],
    "tone.wav": [*AUDIO, "-c:a", "pcm_s16le"],
    "tone.flac": [*AUDIO, "-c:a", "flac"],
    "tone.ogg": [*AUDIO, "-c:a", "libvorbis"],
    "tone.opus": [*AUDIO, "-c:a", "libopus", "-f", "ogg"],
    "audio_only.mp4": [*AUDIO, "-c:a", "aac"],
}

DICOM = {
    "ct.dcm": "CT_small.dcm",
    "mr.dcm": "MR_small.dcm",
    "two_frames.dcm": "SC_rgb_rle_2frame.dcm",
}


def ffmpeg(out: Path, args: list[str]) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", *args, str(out)],
        check=True,
        capture_output=True,
    )


def jpeg(size: tuple[int, int], *, orientation: int | None = None, exif_pad: int = 0) -> bytes:
    image = Image.new("RGB", size, (200, 40, 40))
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    if exif_pad:
        exif[0x010E] = "x" * exif_pad  # ImageDescription: an EXIF block pushing SOF far out
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes() if (orientation or exif_pad) else b"")
    return out.getvalue()


def pillow(fmt: str, size: tuple[int, int] = (40, 30), **params: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, fmt, **params)
    return out.getvalue()


def animated_webp() -> bytes:
    frames = [Image.new("RGB", (48, 36), color) for color in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height``: a decompression bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + body + iend


def pdf(pages: int) -> bytes:
    images = [Image.new("RGB", (200, 100), "white") for _ in range(pages)]
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=72)
    return out.getvalue()


def pillow_made() -> dict[str, bytes]:
    png = pillow("PNG")
    photo = jpeg((64, 48))
    return {
        "photo.jpg": photo,
        "rotated.jpg": jpeg((64, 48), orientation=6),
        "upside_down.jpg": jpeg((64, 48), orientation=3),
        "big_exif.jpg": jpeg((64, 48), orientation=8, exif_pad=40_000),
        "truncated.jpg": photo[:40],
        "image.png": png,
        "actually_png.jpg": png,
        "image.gif": pillow("GIF"),
        "image.bmp": pillow("BMP"),
        "image.tif": pillow("TIFF"),
        "lossy.webp": pillow("WEBP", quality=80),
        "lossless.webp": pillow("WEBP", lossless=True),
        "animated.webp": animated_webp(),
        "bomb.png": png_header_only(60_000, 60_000),
        "image.heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
        "doc.pdf": pdf(3),
        "snippet.txt": "Grüße, world — one snippet.\n".encode(),
        "bom.txt": "\ufeffhello".encode(),
        "notes.md": b"# Title\n\nbody\n",
        "latin1.txt": "café crème".encode("latin-1"),
        "utf16.txt": "hello".encode("utf-16-le"),
        "blank.txt": b"  \n\t\n",
        "oversize.txt": b"a" * (1024 * 1024 + 1),
        "empty.txt": b"",
        "random.bin": bytes(range(7, 250)) * 4,
    }


def make_all(directory: Path) -> dict[str, Path]:
    """Write every fixture into ``directory``; returns name -> path."""
    from pydicom.data import get_testdata_file

    paths: dict[str, Path] = {}
    for name, data in pillow_made().items():
        paths[name] = directory / name
        paths[name].write_bytes(data)
    for name, source in DICOM.items():
        found = get_testdata_file(source, download=False)
        assert found, f"pydicom's bundled test file {source} is missing"
        paths[name] = directory / name
        shutil.copyfile(str(found), paths[name])
    with ThreadPoolExecutor(max_workers=8) as pool:
        jobs = {name: pool.submit(ffmpeg, directory / name, args) for name, args in FFMPEG.items()}
        for name, job in jobs.items():
            job.result()
            paths[name] = directory / name
    whole = paths["h264_aac_end.mp4"].read_bytes()
    paths["truncated.mp4"] = directory / "truncated.mp4"
    paths["truncated.mp4"].write_bytes(whole[: len(whole) * 6 // 10])  # the moov is cut off
    return paths
