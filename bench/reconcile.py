"""What a reconcile costs: requests, time, CPU and memory per asset.

Two cases, each printed with its figures:

- **unchanged at scale**: 100,000 assets imported from a fast synthetic S3 (fakes3, in
  ``../shared/tools/fakes3``), then reconciled against the same bucket served with 30 ms
  latency per request, as a cloud region looks from a server nearby. Nothing changed, so the
  listing is all it may cost: one list request per 1,000 objects.
- **1 % churn**: 10,000 assets imported from a directory (in /dev/shm), then 1 % deleted,
  1 % moved (renamed) and 1 % changed (rewritten with other dimensions) before a reconcile.

    .venv/bin/python bench/reconcile.py [--objects 100000] [--churn-objects 10000]
        [--latency-ms 30] [--case all|unchanged|churn]
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

from bench.import_throughput import (  # noqa: E402
    PeakRss,
    configure,
    create_import,
    run_import,
    small_png,
)

ROOT = Path(__file__).resolve().parents[1]
FAKES3 = ROOT.parent / "shared" / "tools" / "fakes3"


def point_at(endpoint: str) -> None:
    """Make insitu's own AWS identity reach ``endpoint`` from now on."""
    from insitu.connections import stores
    from insitu.storage.registry import clear_caches

    os.environ["AWS_ENDPOINT_URL"] = endpoint
    stores.clear()
    clear_caches()


def reconcile_project(job_id: str) -> tuple[dict[str, int], float, float, float]:
    """Reconcile the project of import ``job_id``: (its counts, wall s, CPU s, RSS growth MB)."""
    from insitu.config import get_settings
    from insitu.db import session_scope
    from insitu.imports import service as imports
    from insitu.projects import service as projects
    from insitu.reconcile import service as reconciles
    from insitu.reconcile.runner import run_reconcile

    with session_scope() as session:
        project_id = imports.get_any(session, job_id=job_id).project_id
        project = projects.get_any(session, project_id=project_id)
        reconcile_id = reconciles.start(session, project=project, by="bench", enqueue=False).id
    cpu, wall = time.process_time(), time.perf_counter()
    with PeakRss() as rss:
        run_reconcile(reconcile_id, settings=get_settings())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with session_scope() as session:
        read = reconciles.read(reconciles.get_any(session, reconcile_id=reconcile_id))
    assert read.status == "succeeded", read.error
    counts = read.counts.model_dump() | {
        "list_requests": read.list_requests,
        "read_requests": read.read_requests,
    }
    return counts, wall, cpu, rss.growth_mb


def report(title: str, assets: int, counts: dict[str, int], wall: float, cpu: float, rss: float):  # type: ignore[no-untyped-def]
    print(f"== {title}")
    print(f"assets reconciled:      {assets:,}")
    print(f"wall time:              {wall:.2f} s ({assets / wall:,.0f} assets/s)")
    print(f"list requests:          {counts['list_requests']:,}")
    print(f"other requests:         {counts['read_requests']:,}")
    print(f"CPU per asset:          {cpu * 1000 / assets:.3f} ms")
    print(f"peak RSS growth:        {rss:.1f} MB")
    shown = ("unchanged", "removed", "changed", "moved", "restored", "added", "failed")
    print("counts:                 " + ", ".join(f"{name} {counts[name]:,}" for name in shown))


def bench_unchanged(objects: int, latency_ms: int) -> None:
    fast, slow = FakeS3(objects, 0), FakeS3(objects, latency_ms)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.update(TEST_CREDENTIALS)
            configure(Path(tmp) / "bench.db", INSITU_IMPORT_CONCURRENCY="256",
                      INSITU_IMPORT_BATCH_SIZE="1000")  # fmt: skip
            point_at(fast.endpoint)
            job_id = create_import("s3://bench/images/", "s3", {})
            run_import(job_id)
            point_at(slow.endpoint)
            before = slow.stats()
            counts, wall, cpu, rss = reconcile_project(job_id)
            after = slow.stats()
        requests = {op: after.get(op, 0) - before.get(op, 0) for op in after}
        lists = sum(n for op, n in requests.items() if op.startswith("ListObjects"))
        others = sum(requests.values()) - lists
        assert counts["unchanged"] == objects, counts
        report(f"{objects:,} unchanged assets, fakes3 with {latency_ms} ms latency",
               objects, counts, wall, cpu, rss)  # fmt: skip
        print(f"fakes3 counted:         {lists:,} list requests, {others:,} other requests")
    finally:
        fast.stop()
        slow.stop()


def bench_churn(objects: int) -> None:
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        root = Path(tmp) / "data"
        (root / "moved").mkdir(parents=True)
        for index in range(objects):
            (root / f"{index:07d}.png").write_bytes(small_png(index))
        configure(Path(tmp) / "bench.db", INSITU_LOCAL_ROOTS=str(root))
        from insitu.config import get_settings
        from insitu.db import get_engine

        get_settings.cache_clear()
        get_engine.cache_clear()
        job_id = create_import(f"file://{root}/", "local", {"root": str(root)})
        run_import(job_id)
        step = 100
        for index in range(0, objects, step):  # 1 % each: deleted, moved, changed
            (root / f"{index:07d}.png").unlink()
            os.rename(root / f"{index + 1:07d}.png", root / "moved" / f"{index + 1:07d}.png")
            changed = root / f"{index + 2:07d}.png"
            changed.write_bytes(small_png(index + 3))
            stat = changed.stat()
            os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        counts, wall, cpu, rss = reconcile_project(job_id)
    share = objects // step
    assert (counts["removed"], counts["moved"], counts["changed"]) == (share, share, share), counts
    report(f"{objects:,} assets from a directory, 1 % deleted, moved and changed",
           objects, counts, wall, cpu, rss)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--churn-objects", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=30)
    parser.add_argument("--case", choices=("all", "unchanged", "churn"), default="all")
    args = parser.parse_args()
    if args.case in ("all", "unchanged"):
        bench_unchanged(args.objects, args.latency_ms)
    if args.case in ("all", "churn"):
        bench_churn(args.churn_objects)


if __name__ == "__main__":
    main()
