"""How fast an import lists one flat folder of many files, with one lister and with several.

fakes3 (``../shared/tools/fakes3``) serves N objects all in one folder (``images/img_0000000.png``
...) and answers each list page after ``--list-latency-ms`` (default 80: about what a 1,000-key
ListObjectsV2 page takes in-region, which is why one list chain tops out near 12,000 keys/s).
Only the lister runs, in this process: its pages become batches in SQLite, which nothing
probes. For each lister count (``INSITU_IMPORT_LIST_CONCURRENCY``) it prints keys/s, list
requests (the folder's pages plus the key ranges' boundary pages), the parts the folder was
cut into, and the lister's CPU-ms per key. One lister lists the folder as one chain.

    .venv/bin/python bench/listing.py [--objects 1000000] [--listers 1,4,16] [--list-latency-ms 80]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.fakes3 import FakeS3  # noqa: E402
from tests.fixtures.moto import TEST_CREDENTIALS  # noqa: E402

from bench.import_throughput import configure, create_import  # noqa: E402


def list_folder(s3: FakeS3, objects: int, listers: int) -> None:
    from sqlalchemy import func, select

    from insitu.config import get_settings
    from insitu.db import get_engine, session_scope
    from insitu.imports.lister import run_lister
    from insitu.imports.models import ImportJob, ImportPart

    with tempfile.TemporaryDirectory() as tmp:
        configure(
            Path(tmp) / "bench.db",
            INSITU_IMPORT_LIST_CONCURRENCY=str(listers),
            INSITU_IMPORT_MAX_PENDING_BATCHES="10000",  # never wait for the (absent) probing
        )
        get_settings.cache_clear()
        get_engine.cache_clear()
        job_id = create_import("s3://bench/images/", "s3", {})
        settings = get_settings()
        requests_before = s3.stats().get("ListObjectsV2", 0)
        started, cpu_started = time.perf_counter(), time.process_time()
        while run_lister(job_id, settings=settings, requeue=False).state != "done":
            pass
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        requests = s3.stats().get("ListObjectsV2", 0) - requests_before
        with session_scope() as session:
            listed = session.get_one(ImportJob, job_id).listed
            parts = session.scalar(
                select(func.count()).select_from(ImportPart).where(ImportPart.job_id == job_id)
            )
        get_engine().dispose()
    assert listed == objects, f"listed {listed} of {objects}"
    print(
        f"{listers:>3} lister(s): {objects / wall:>9,.0f} keys/s ({wall:6.1f} s), "
        f"{requests:>6,} list requests, {parts:>4} parts, CPU per key {cpu * 1000 / objects:.4f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--listers", default="1,4,16", help="lister counts, comma-separated")
    parser.add_argument("--list-latency-ms", type=int, default=80)
    args = parser.parse_args()
    s3 = FakeS3(
        args.objects, 0, "--per-prefix", "0", "--list-latency-ms", str(args.list_latency_ms)
    )
    try:
        os.environ.update({**TEST_CREDENTIALS, "AWS_ENDPOINT_URL": s3.endpoint})
        print(
            f"== one folder of {args.objects:,} keys, list pages at {args.list_latency_ms} ms, "
            f"load {os.getloadavg()[0]:.1f}"
        )
        for listers in [int(count) for count in args.listers.split(",")]:
            list_folder(s3, args.objects, listers)
    finally:
        s3.stop()


if __name__ == "__main__":
    main()
