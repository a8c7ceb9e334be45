"""How fast insitu imports small PNGs from S3, against the raw ceiling of the same machine.

Starts a moto server, seeds N small PNGs (default 10,000), then in one run measures:

- the raw ceiling: a bare loop of concurrent ranged GETs over the same objects (obstore, the
  same data-plane client and concurrency insitu uses), with no listing, parsing or database;
- insitu's import of the prefix through the real pipeline (listing, header probe, upserts).

It prints objects/s for both and their ratio, insitu's CPU milliseconds per imported object
(process time: the pipeline's threads count, moto's separate process does not), the peak RSS
growth during the import, and bytes read per object.

``--memory`` instead measures RSS growth from 10k to 100k objects on a ``local`` directory
source, whose listing (a directory walk) is not the bottleneck the way moto's listing is past
~20k keys; the pipeline above the ObjectStore boundary is the same code.

``--fakes3`` instead imports from fakes3 (``../shared/tools/fakes3``, ``--latency-ms`` per
request) into SQLite or, with ``--postgres``, a fresh PostgreSQL database, in this process
(the CLI's foreground run: lister and batches one after the other, no Celery), and prints
objects/s and CPU-ms per object: the per-object cost without the worker's machinery.

    .venv/bin/python bench/import_throughput.py [--objects 10000] [--memory]
    .venv/bin/python bench/import_throughput.py --fakes3 [--postgres] [--latency-ms 30]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.moto import TEST_CREDENTIALS, make_s3_client, seed, start_moto_server  # noqa: E402

BUCKET = "bench"
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def small_png(index: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16 + index % 7, 16), (index % 255, 40, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


class PeakRss:
    """Samples this process's RSS in a thread; ``growth`` is the peak minus the start."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.start = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        # Ten times a second: RSS moves a batch at a time, and sampling more often would add
        # its own CPU (psutil parses /proc) to the figure measured.
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 1e6


def configure(database: Path, **extra: str) -> None:
    os.environ.update(
        {
            "INSITU_DATABASE_URL": f"sqlite:///{database}",
            "INSITU_SECRET_KEY": "bench-secret",
            **extra,
        }
    )


def create_import(
    source: str, provider: str, settings_json: dict[str, str], *, enqueue: bool = False
) -> str:
    from insitu.config import get_settings
    from insitu.connections import service as connections
    from insitu.connections.schemas import ConnectionCreate
    from insitu.db import session_scope
    from insitu.imports import service as imports
    from insitu.imports.schemas import ImportCreate
    from insitu.migrate import upgrade
    from insitu.organizations import service as organizations
    from insitu.projects import service as projects
    from insitu.projects.schemas import ProjectCreate

    settings = get_settings()
    upgrade(settings.database_url)
    with session_scope() as session:
        org, _ = organizations.create(session, name="bench", settings=settings)
        connection = connections.create(
            session,
            org=org,
            data=ConnectionCreate(provider=provider, settings=settings_json),
            settings=settings,
            operator=True,  # the benchmark sets the server up, as its operator would
        )
        project = projects.create(session, org=org, data=ProjectCreate(name="bench"))
        job = imports.create(
            session,
            org=org,
            project=project,
            data=ImportCreate(source=source, connection_id=connection.id),
            settings=settings,
            enqueue=enqueue,
        )
        return job.id


def run_import(job_id: str) -> tuple[float, float, float, dict[str, int]]:
    """(wall s, CPU s, RSS growth MB, job counters) of running import ``job_id``."""
    from insitu.config import get_settings
    from insitu.db import session_scope
    from insitu.imports.models import ImportJob
    from insitu.imports.pipeline import run_import as pipeline
    from insitu.process import tune_garbage_collector

    tune_garbage_collector()  # as the ``insitu`` command does for ``insitu import``
    cpu, wall = time.process_time(), time.perf_counter()
    with PeakRss() as rss:
        pipeline(job_id, settings=get_settings())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with session_scope() as session:
        job = session.get_one(ImportJob, job_id)
        counts = {
            "imported": job.imported,
            "failed": job.failed,
            "bytes_read": job.bytes_read,
            "requests": job.requests,
        }
        assert job.status == "succeeded", (job.status, job.error)
    return wall, cpu, rss.growth_mb, counts


def raw_ceiling(endpoint: str, keys: list[str], concurrency: int) -> float:
    """Objects/s of bare concurrent 0-4095 ranged GETs with obstore, nothing else."""
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        BUCKET,
        endpoint=endpoint,
        access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region="us-east-1",
        client_options={"allow_http": True},
        virtual_hosted_style_request=False,
    )
    wall = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        sizes = list(
            pool.map(lambda key: len(obstore.get_range(store, key, start=0, end=4096)), keys)
        )
    assert all(sizes)
    return len(keys) / (time.perf_counter() - wall)


def bench_s3(objects: int) -> None:
    server = start_moto_server()
    try:
        os.environ.update(TEST_CREDENTIALS)
        os.environ["AWS_ENDPOINT_URL"] = server.endpoint
        client = make_s3_client(server.endpoint)
        client.create_bucket(Bucket=BUCKET)
        keys = [f"images/{index:07d}.png" for index in range(objects)]
        started = time.perf_counter()
        seed(client, BUCKET, {key: small_png(index) for index, key in enumerate(keys)})
        print(f"seeded {objects} PNGs in {time.perf_counter() - started:.1f} s")

        with tempfile.TemporaryDirectory() as tmp:
            configure(Path(tmp) / "bench.db")
            from insitu.config import get_settings

            concurrency = get_settings().import_concurrency
            ceiling = raw_ceiling(server.endpoint, keys, concurrency)
            job_id = create_import(f"s3://{BUCKET}/images/", "s3", {})
            wall, cpu, rss_mb, counts = run_import(job_id)
        assert counts["imported"] == objects, counts
        rate = objects / wall
        print(f"raw ceiling (bare ranged GETs, {concurrency} in flight): {ceiling:,.0f} objects/s")
        print(f"insitu import:                     {rate:,.0f} objects/s ({wall:.2f} s)")
        print(f"ratio to ceiling:                  {rate / ceiling:.0%}")
        print(f"insitu CPU per imported object:    {cpu * 1000 / objects:.3f} ms")
        print(f"peak RSS growth during import:     {rss_mb:.1f} MB")
        print(f"bytes read per object:             {counts['bytes_read'] / objects:,.0f}")
        print(f"requests per object:               {counts['requests'] / objects:.2f}")
    finally:
        server.stop()


def bench_fakes3(objects: int, latency_ms: int, postgres: bool) -> None:
    from tests.fixtures.fakes3 import FakeS3

    from bench.scale_out import drop_database, fresh_database

    s3 = FakeS3(objects, latency_ms)
    database = fresh_database() if postgres else None
    try:
        os.environ.update({**TEST_CREDENTIALS, "AWS_ENDPOINT_URL": s3.endpoint})
        with tempfile.TemporaryDirectory() as tmp:
            configure(Path(tmp) / "bench.db")
            if database is not None:
                os.environ["INSITU_DATABASE_URL"] = f"{POSTGRES}/{database}"
            job_id = create_import(f"s3://{BUCKET}/images/", "s3", {})
            wall, cpu, rss_mb, counts = run_import(job_id)
        assert counts["imported"] == objects, counts
        kind = "PostgreSQL" if postgres else "SQLite"
        print(f"== {objects:,} objects from fakes3 at {latency_ms} ms into {kind}, in this "
              f"process, load {os.getloadavg()[0]:.1f}")  # fmt: skip
        print(f"{objects / wall:,.0f} objects/s ({wall:.1f} s), CPU per object "
              f"{cpu * 1000 / objects:.3f} ms, peak RSS growth {rss_mb:.0f} MB, requests per "
              f"object {counts['requests'] / objects:.2f}")  # fmt: skip
    finally:
        s3.stop()
        if database is not None:
            from insitu.db import get_engine

            get_engine().dispose()
            drop_database(database)


def bench_memory(sizes: list[int]) -> None:
    for count in sizes:
        with tempfile.TemporaryDirectory(
            dir="/dev/shm" if Path("/dev/shm").is_dir() else None
        ) as tmp:
            root = Path(tmp) / "data"
            root.mkdir()
            image = small_png(1)
            for index in range(count):
                (root / f"{index:07d}.png").write_bytes(image)
            configure(Path(tmp) / "bench.db", INSITU_LOCAL_ROOTS=str(root))
            from insitu.config import get_settings
            from insitu.db import get_engine

            get_settings.cache_clear()
            get_engine.cache_clear()
            job_id = create_import(f"file://{root}/", "local", {"root": str(root)})
            wall, cpu, rss_mb, counts = run_import(job_id)
            assert counts["imported"] == count, counts
            print(
                f"{count:>7,} objects (local source): {count / wall:,.0f} objects/s, "
                f"{cpu * 1000 / count:.3f} CPU-ms/object, peak RSS growth {rss_mb:.1f} MB"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--memory", action="store_true", help="RSS growth 10k -> 100k objects")
    parser.add_argument("--memory-sizes", default="10000,100000", help="object counts for --memory")
    parser.add_argument("--fakes3", action="store_true", help="import from fakes3, in process")
    parser.add_argument("--postgres", action="store_true", help="with --fakes3: PostgreSQL")
    parser.add_argument("--latency-ms", type=int, default=30, help="with --fakes3")
    args = parser.parse_args()
    if args.fakes3:
        bench_fakes3(args.objects, args.latency_ms, args.postgres)
    elif args.memory:
        bench_memory([int(size) for size in args.memory_sizes.split(",")])
    else:
        bench_s3(args.objects)


if __name__ == "__main__":
    main()
