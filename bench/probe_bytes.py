"""What header-only probing costs: bytes read, requests made, per fixture kind.

Generates realistic fixtures (Pillow photos with EXIF, pydicom's files, a 20 MB H.264/AAC
MP4 with its index at either end, audio, PDF, text) in a temporary directory and probes each
through a local-directory store that serves real byte ranges (``--s3``: through the real S3
provider on a moto server it starts). Prints, per kind, the median bytes read, requests and
file size, then the CPU cost of probing a small PNG.

    .venv/bin/python bench/probe_bytes.py [--s3] [--read-ahead 16384]

Targets: images <= 64 KiB and <= 2 requests (median); a 20 MB H.264 MP4 <= 256 KiB and
<= 4 requests with its moov at either end; DICOM <= 16 KiB.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402
from tests.media.localstore import DirectoryStore  # noqa: E402

from insitu.media import ProbeOptions, probe_object  # noqa: E402
from insitu.storage.base import ObjectStore  # noqa: E402

KIND_TARGETS = {"image": (64 * 1024, 2), "video 20 MB": (256 * 1024, 4), "dicom": (16 * 1024, 99)}


def _photo(size: tuple[int, int], seed: int) -> Image.Image:
    rng = random.Random(seed)
    small = Image.new("RGB", (size[0] // 16, size[1] // 16))
    small.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256))
                   for _ in range(small.width * small.height)])  # fmt: skip
    return small.resize(size, Image.Resampling.BICUBIC)


def _jpeg(image: Image.Image, *, orientation: int | None = None, exif_pad: int = 0) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "BenchCam"  # Make
    if orientation:
        exif[0x0112] = orientation
    if exif_pad:  # camera JPEGs carry a thumbnail and maker notes before the frame header
        exif[0x010E] = "x" * exif_pad
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def make_fixtures(root: Path) -> dict[str, str]:
    """Write the fixtures; returns key -> kind label."""
    kinds: dict[str, str] = {}

    def put(key: str, data: bytes, kind: str) -> None:
        (root / key).write_bytes(data)
        kinds[key] = kind

    for i, size in enumerate([(1920, 1080), (1280, 960), (4032, 3024)]):
        photo = _photo(size, i)
        put(f"photo{i}.jpg", _jpeg(photo, orientation=6 if i == 1 else None), "image")
        put(f"camera{i}.jpg", _jpeg(photo, orientation=6, exif_pad=30_000), "image")
        put(f"photo{i}.png", _save(photo.resize((size[0] // 4, size[1] // 4)), "PNG"), "image")
        put(f"photo{i}.webp", _save(photo, "WEBP", quality=80), "image")
        put(f"photo{i}.gif", _save(photo.resize((320, 240)), "GIF"), "image")
        put(f"photo{i}.bmp", _save(photo.resize((320, 240)), "BMP"), "image")
        put(f"photo{i}.tif", _save(photo.resize((640, 480)), "TIFF"), "image")
    from pydicom.data import get_testdata_file

    for name in ("CT_small.dcm", "MR_small.dcm", "SC_rgb_rle_2frame.dcm", "JPEG2000.dcm"):
        found = get_testdata_file(name, download=False)
        if found:
            put(name, Path(str(found)).read_bytes(), "dicom")
    _ffmpeg(root)
    for key in ("h264_end.mp4", "h264_start.mp4"):
        kinds[key] = "video 20 MB"
    for key in ("tone.mp3", "tone.m4a", "tone.flac", "tone.ogg", "tone.wav"):
        kinds[key] = "audio"
    pages = [Image.new("RGB", (612, 792), "white") for _ in range(12)]
    put("doc.pdf", _save(pages[0], "PDF", save_all=True, append_images=pages[1:]), "pdf")
    put("snippet.txt", ("A labeler reads this sentence. " * 300).encode(), "text")
    return kinds


def _ffmpeg(root: Path) -> None:
    video = ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=60"]
    audio = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=60"]
    run = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
    subprocess.run(
        [*run, *video, *audio, "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "2600k",
         "-pix_fmt", "yuv420p", "-c:a", "aac", str(root / "h264_end.mp4")],
        check=True,
    )  # fmt: skip
    subprocess.run(
        [*run, "-i", str(root / "h264_end.mp4"), "-c", "copy", "-movflags", "+faststart",
         str(root / "h264_start.mp4")],
        check=True,
    )  # fmt: skip
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=180"]
    for name, codec in [("tone.mp3", "libmp3lame"), ("tone.m4a", "aac"), ("tone.flac", "flac"),
                        ("tone.ogg", "libvorbis"), ("tone.wav", "pcm_s16le")]:  # fmt: skip
        subprocess.run([*run, *tone, "-c:a", codec, str(root / name)], check=True)


@contextmanager
def open_store(root: Path, s3: bool) -> Iterator[ObjectStore]:
    if not s3:
        yield DirectoryStore(root)
        return
    from tests.fixtures.moto import TEST_CREDENTIALS, make_s3_client, seed, start_moto_server

    from insitu.config import Settings
    from insitu.storage.base import ProviderContext
    from insitu.storage.registry import get_provider
    from insitu.storage.s3 import S3Config

    server = start_moto_server()
    try:
        import os

        os.environ.update(TEST_CREDENTIALS)
        client = make_s3_client(server.endpoint)
        client.create_bucket(Bucket="bench")
        seed(client, "bench", {p.name: p.read_bytes() for p in root.iterdir()})
        provider = get_provider("s3")
        settings = Settings(_env_file=None, private_endpoints=["127.0.0.1"])  # type: ignore[call-arg]
        context = ProviderContext(
            settings, "org", "conn", "ext", private_endpoints=tuple(settings.private_endpoints)
        )
        yield provider.open(
            S3Config(endpoint_url=server.endpoint),
            location=provider.parse("s3://bench/"),
            context=context,
        )
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--s3", action="store_true", help="probe through S3 on a moto server")
    parser.add_argument("--read-ahead", type=int, default=ProbeOptions().read_ahead)
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("needs ffmpeg: apt-get install -y ffmpeg")
    options = ProbeOptions(read_ahead=args.read_ahead)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        kinds = make_fixtures(root)
        with open_store(root, args.s3) as store:
            report(store, kinds, options)
            cpu_per_png(store, options)


def report(store: ObjectStore, kinds: dict[str, str], options: ProbeOptions) -> None:
    rows: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    print(f"{'file':<22}{'kind':<13}{'bytes read':>12}{'requests':>10}{'size':>12}  result")
    for key in sorted(kinds):
        info = store.head(key)
        result = probe_object(store, info, options)
        outcome = result.failure.code if result.failure else _summary(result.facts)
        print(f"{key:<22}{kinds[key]:<13}{result.bytes_read:>12,}{result.requests:>10}"
              f"{info.size:>12,}  {outcome}")  # fmt: skip
        label = kinds[key] if kinds[key] != "video 20 MB" else f"video 20 MB ({key})"
        rows[label].append((result.bytes_read, result.requests, info.size))
    print(f"\n{'kind (median)':<34}{'bytes read':>12}{'requests':>10}{'size':>12}  target")
    for label, values in rows.items():
        bytes_read = int(statistics.median(v[0] for v in values))
        requests = statistics.median(v[1] for v in values)
        size = int(statistics.median(v[2] for v in values))
        target = KIND_TARGETS.get(label.split(" (")[0])
        verdict = ""
        if target:
            ok = bytes_read <= target[0] and requests <= target[1]
            verdict = ("ok" if ok else "MISSED") + f" (<= {target[0] // 1024} KiB"
            verdict += f", <= {target[1]} requests)" if target[1] < 99 else ")"
        print(f"{label:<34}{bytes_read:>12,}{requests:>10}{size:>12,}  {verdict}")


def cpu_per_png(store: ObjectStore, options: ProbeOptions, rounds: int = 2000) -> None:
    info = store.head("photo0.png")
    probe_object(store, info, options)
    start = time.process_time()
    for _ in range(rounds):
        probe_object(store, info, options)
    per = (time.process_time() - start) * 1000 / rounds
    print(f"\nCPU per small-PNG probe (including the store's ranged read): {per:.3f} ms")


def _summary(facts: object) -> str:
    f = facts
    parts = [getattr(f, "kind", "")]
    if getattr(f, "width", None):
        parts.append(f"{f.width}x{f.height}")  # type: ignore[attr-defined]
    if getattr(f, "video_codec", None) or getattr(f, "audio_codec", None):
        parts.append(f"{f.video_codec}/{f.audio_codec}")  # type: ignore[attr-defined]
    if getattr(f, "duration", None):
        parts.append(f"{f.duration:.1f}s")  # type: ignore[attr-defined]
    if "page_count" in getattr(f, "details", {}):
        parts.append(f"{f.details['page_count']} pages")  # type: ignore[attr-defined]
    return " ".join(parts)


if __name__ == "__main__":
    main()
