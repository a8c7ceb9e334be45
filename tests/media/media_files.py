"""Media fixtures made at test time (ffmpeg, Pillow, pydicom's bundled files): nothing committed.

``make_all(directory)`` writes every fixture and returns name -> path. ffmpeg jobs run in
parallel; the whole set takes a few seconds.
"""

from __future__ import annotations

import io
import random
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
    "fragmented.mp4": [
        *[*VIDEO, *AUDIO, *H264, "-c:a", "aac"],
        *["-movflags", "frag_keyframe+empty_moov"],
    ],
    # The shape of the file in the truncation finding: 320x240, 2 s, index at the start.
    "finding.mp4": [
        *["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2"],
        *["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=2"],
        *H264,
        *["-c:a", "aac", "-movflags", "+faststart"],
    ],
    "long_start.mp4": [  # every frame a key frame: ~800 KB, far more than the probe reads
        *["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=8"],
        *AUDIO,
        *[*H264, "-g", "1"],
        *["-c:a", "aac", "-movflags", "+faststart"],
    ],
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
    for name, data in cut_off({name: path.read_bytes() for name, path in paths.items()}).items():
        paths[name] = directory / name
        paths[name].write_bytes(data)
    return paths


def noise_png(size: tuple[int, int]) -> bytes:
    """A PNG too large for the probe's first read (noise does not compress)."""
    noise = random.Random(0).randbytes(size[0] * size[1] * 3)
    image = Image.frombytes("RGB", size, noise)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def with_mdat_size_zero(mp4: bytes) -> bytes:
    """An MP4 whose mdat says "to the end of the file" (size 0), as streaming writers do."""
    pos = 0
    while pos + 8 <= len(mp4):
        size, kind = struct.unpack(">I4s", mp4[pos : pos + 8])
        if kind == b"mdat":
            return mp4[:pos] + b"\x00\x00\x00\x00" + mp4[pos + 4 :]
        pos += size
    raise AssertionError("no mdat box")


def cut_off(files: dict[str, bytes]) -> dict[str, bytes]:
    """Files cut off as an interrupted upload leaves them: header intact, the rest missing."""
    end_index = files["h264_aac_end.mp4"]
    finding = files["finding.mp4"]
    png = noise_png((160, 120))
    return {
        # the finding: the first 4,000 bytes of a faststart H.264/AAC MP4
        "cut_after_index.mp4": finding[:4000],
        # the same, with an mdat that claims no size: only the index shows the cut
        "cut_mdat_to_end.mp4": with_mdat_size_zero(finding[:4000]),
        "cut_long.mp4": files["long_start.mp4"][: len(files["long_start.mp4"]) // 2],
        "truncated.mp4": end_index[: len(end_index) * 6 // 10],  # index at the end, cut off
        "cut_index.mp4": end_index[:-200],  # the cut falls inside the index
        "cut.mov": files["clip.mov"][: len(files["clip.mov"]) // 2],
        "cut.m4a": files["tone.m4a"][: len(files["tone.m4a"]) // 2],
        "cut.webm": files["vp9_opus.webm"][: len(files["vp9_opus.webm"]) // 2],
        "cut.mkv": files["h264.mkv"][: len(files["h264.mkv"]) // 2],
        "cut.avi": files["h264.avi"][: len(files["h264.avi"]) // 2],
        "cut.wav": files["tone.wav"][: len(files["tone.wav"]) // 2],
        "cut.flac": files["tone.flac"][:6000],
        "cut.mp3": files["tone.mp3"][: len(files["tone.mp3"]) // 2],
        "noise.png": png,
        "cut.png": png[:30_000],  # the head holds an IDAT chunk that runs past the end
        "cut_small.png": files["image.png"][:-12],  # no IEND, and the whole file is in hand
        "cut.jpg": files["photo.jpg"][:-2],  # no end-of-image marker
        "cut_exif.jpg": files["big_exif.jpg"][:20_000],  # cut inside a 40 KB EXIF block
        "cut.webp": files["lossy.webp"][: len(files["lossy.webp"]) // 2],
        "cut.bmp": files["image.bmp"][: len(files["image.bmp"]) // 2],
        "cut.pdf": files["doc.pdf"][: len(files["doc.pdf"]) // 2],
        "cut.dcm": files["ct.dcm"][: len(files["ct.dcm"]) - 1000],
        # not cut: a writer that counted the RIFF header in the RIFF size (players shrug)
        "riff_counts_header.wav": riff_size_plus(files["tone.wav"], 8),
    }


def riff_size_plus(riff: bytes, extra: int) -> bytes:
    (size,) = struct.unpack("<I", riff[4:8])
    return riff[:4] + struct.pack("<I", size + extra) + riff[8:]
