"""One import spread over 1, 2 and 4 ``insitu worker`` processes (Celery on Redis, PostgreSQL).

fakes3 (``../shared/tools/fakes3``) serves ``--objects`` small PNGs with ``--latency-ms`` per
request, as a cloud region looks from a server nearby. For each worker count it starts
``insitu serve`` and N ``insitu worker --concurrency 1`` processes on a fresh PostgreSQL
database, queues one import of the whole bucket and waits for it. It prints objects/s, the CPU
milliseconds per object (all workers' and serve's process trees, from psutil; and the whole
machine's, to show where the cores go), the speed-up over one worker, each worker's peak RSS,
its RSS once 10 % and 100 % of the objects were in, requests per object (fakes3's own
counters) and the hours 10 million objects would take.

An import is split into batches that any worker runs, so more workers speed one import up
until the machine's cores (shared here with fakes3, PostgreSQL and Redis) are spent.

    .venv/bin/python bench/scale_out.py [--objects 100000] [--workers 1,2,4] [--latency-ms 30]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.fakes3 import FakeS3  # noqa: E402
from tests.fixtures.moto import TEST_CREDENTIALS  # noqa: E402
from tests.fixtures.processes import free_port, start_server  # noqa: E402

from bench.import_throughput import create_import  # noqa: E402

INSITU = str(Path(sys.executable).with_name("insitu"))
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
TARGET = 10_000_000


@dataclass
class Run:
    workers: int
    objects: int
    seconds: float
    cpu_seconds: float
    requests: int
    peak_rss_mb: list[float]
    rss_at_tenth_mb: float
    rss_at_end_mb: float
    status: str = ""
    failed: int = 0
    serve_cpu_seconds: float = 0.0
    machine_cpu_seconds: float = 0.0  # every process on the box (fakes3, PostgreSQL, Redis...)
    fakes3_cpu_seconds: float = 0.0
    database_cpu_seconds: float = 0.0  # PostgreSQL's backends serving the bench's database
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.objects / self.seconds

    @property
    def cpu_ms(self) -> float:
        return self.cpu_seconds * 1000 / self.objects


def tree_cpu(process: psutil.Process) -> float:
    """CPU seconds (user + system) of ``process`` and its children, living ones included."""
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        try:
            times = each.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def machine_cpu() -> float:
    """CPU seconds (user + system) the whole machine spent so far, all cores."""
    times = psutil.cpu_times()
    return float(times.user + times.nice + times.system + times.irq + times.softirq)


def backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to ``database`` (one per connection;
    a backend that exits before the end is not counted: the pools keep theirs)."""
    seconds = {}
    for process in psutil.process_iter(["cmdline", "cpu_times"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if cmdline.startswith("postgres:") and f" {database} " in cmdline:
            times = process.info["cpu_times"]
            seconds[process.pid] = times.user + times.system
    return seconds


def tree_rss(process: psutil.Process) -> float:
    total = 0
    for each in [process, *process.children(recursive=True)]:
        try:
            total += each.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 1e6


def fresh_database() -> str:
    import psycopg

    name = f"insitu_scaleout_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return name


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def wait_for_workers(count: int, timeout: float = 60) -> None:
    from insitu.jobs.celery_backend import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=0.5) or []) >= count:
            return
    raise SystemExit(f"{count} workers did not come up in {timeout:.0f} s")


def run_once(workers: int, objects: int, s3: FakeS3) -> Run:
    database = fresh_database()
    queue = f"scaleout-{uuid.uuid4().hex[:8]}"
    os.environ.update(
        {
            **TEST_CREDENTIALS,
            "AWS_ENDPOINT_URL": s3.endpoint,
            "INSITU_DATABASE_URL": f"{POSTGRES}/{database}",
            "INSITU_SECRET_KEY": "bench-secret",
            "INSITU_JOB_BACKEND": "celery",
            "INSITU_CELERY_QUEUE": queue,
        }
    )
    from insitu.config import get_settings
    from insitu.db import get_engine
    from insitu.jobs import backend
    from insitu.jobs.celery_backend import app

    get_settings.cache_clear()
    get_engine.cache_clear()
    backend.set_backend(None)
    app.conf.task_default_queue = queue
    logs = tempfile.TemporaryDirectory()
    started: list[subprocess.Popen[bytes]] = []
    serve = None
    try:
        port = free_port()
        serve = start_server(
            [INSITU, "serve", "--port", str(port)], f"http://127.0.0.1:{port}/healthz",
            env=os.environ.copy(), timeout=60,
        )  # fmt: skip
        for index in range(workers):
            log = open(Path(logs.name) / f"worker{index}.log", "wb")  # noqa: SIM115
            started.append(
                subprocess.Popen(
                    [INSITU, "worker", "--concurrency", "1"],
                    env=os.environ.copy(), stdout=log, stderr=log, start_new_session=True,
                )
            )  # fmt: skip
        wait_for_workers(workers)
        procs = [psutil.Process(p.pid) for p in started] + [psutil.Process(serve.process.pid)]
        cpu_before = [tree_cpu(p) for p in procs]
        fakes3 = psutil.Process(s3.process.pid)
        machine_before, fakes3_before = machine_cpu(), tree_cpu(fakes3)
        backends_before = backends_cpu(database)
        requests_before = sum(s3.stats().values())
        began = time.perf_counter()
        job_id = create_import("s3://bench/images/", "s3", {}, enqueue=True)
        run = watch(job_id, objects, workers, procs)
        run.seconds = time.perf_counter() - began
        spent = [tree_cpu(p) - before for p, before in zip(procs, cpu_before, strict=True)]
        run.cpu_seconds = sum(spent)
        run.serve_cpu_seconds = spent[-1]
        run.machine_cpu_seconds = machine_cpu() - machine_before
        run.fakes3_cpu_seconds = tree_cpu(fakes3) - fakes3_before
        run.database_cpu_seconds = sum(
            seconds - backends_before.get(pid, 0.0)
            for pid, seconds in backends_cpu(database).items()
        )
        run.requests = sum(s3.stats().values()) - requests_before
        return run
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        if serve is not None:
            serve.stop(timeout=30)
        get_engine().dispose()
        drop_database(database)
        logs.cleanup()


def watch(job_id: str, objects: int, workers: int, procs: list[psutil.Process]) -> Run:
    """Poll the import until it ends, sampling each worker's RSS."""
    from insitu.db import session_scope
    from insitu.imports.models import ImportJob

    peaks = [0.0] * workers
    at_tenth = 0.0
    deadline = time.monotonic() + max(600, objects / 100)
    while time.monotonic() < deadline:
        rss = [tree_rss(p) for p in procs[:workers]]
        peaks = [max(a, b) for a, b in zip(peaks, rss, strict=True)]
        with session_scope() as session:
            job = session.get_one(ImportJob, job_id)
            status, done, failed = job.status, job.imported + job.failed, job.failed
            summary = (
                f"listed {job.listed:,}, imported {job.imported:,}, already present "
                f"{job.already_present:,}, failed {job.failed:,}, error {job.error}"
            )
        if not at_tenth and done >= objects // 10:
            at_tenth = max(rss)
        if status in ("succeeded", "failed", "canceled"):
            break
        time.sleep(0.1)
    if status != "succeeded" or done != objects:
        raise SystemExit(f"the import of {objects:,} objects ended {status}: {summary}")
    return Run(workers, objects, 0.0, 0.0, 0, peaks, at_tenth, max(rss), status, failed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to run, e.g. 1,2,4")
    parser.add_argument("--latency-ms", type=int, default=30)
    parser.add_argument(
        "--error-rate",
        type=float,
        default=0.0,
        help="fraction of GETs, HEADs and listings fakes3 answers 503 SlowDown (e.g. 0.3)",
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    throttled = (
        ["--error-rate", str(args.error_rate), "--error-seed", "1"] if args.error_rate else []
    )
    s3 = FakeS3(args.objects, args.latency_ms, *throttled)
    runs: list[Run] = []
    try:
        for workers in counts:
            runs.append(run_once(workers, args.objects, s3))
    finally:
        s3.stop()
    load = os.getloadavg()[0]
    if args.error_rate:
        print(f"fakes3 answered {args.error_rate:.0%} of requests with 503 SlowDown")
    print(f"== {args.objects:,} objects from fakes3 at {args.latency_ms} ms, "
          f"Celery on Redis + PostgreSQL, {psutil.cpu_count()} cores, load {load:.1f}")  # fmt: skip
    base = runs[0].rate
    for run in runs:
        print(f"{run.workers} worker(s): {run.rate:,.0f} objects/s ({run.seconds:.1f} s), "
              f"CPU per object {run.cpu_ms:.3f} ms, speed-up {run.rate / base:.2f}x, "
              f"requests per object {run.requests / run.objects:.2f}; "
              f"the import {run.status} with {run.failed:,} failed files")  # fmt: skip
        serve_ms = run.serve_cpu_seconds * 1000 / run.objects
        machine_ms = run.machine_cpu_seconds * 1000 / run.objects
        fakes3_ms = run.fakes3_cpu_seconds * 1000 / run.objects
        print(f"  of the CPU per object: workers {run.cpu_ms - serve_ms:.3f} ms, "
              f"insitu serve {serve_ms:.3f} ms; the whole machine spent {machine_ms:.3f} ms "
              f"(fakes3 {fakes3_ms:.3f}, PostgreSQL's backends for this database "
              f"{run.database_cpu_seconds * 1000 / run.objects:.3f}, the rest Redis, this script "
              f"and anything else running), {run.machine_cpu_seconds / run.seconds:.2f} of "
              f"{psutil.cpu_count()} cores")  # fmt: skip
        peaks = ", ".join(f"{mb:.0f}" for mb in run.peak_rss_mb)
        print(f"  peak RSS per worker (MB): {peaks}; busiest worker's RSS at 10 % of the "
              f"objects {run.rss_at_tenth_mb:.0f} MB, at the end "
              f"{run.rss_at_end_mb:.0f} MB")  # fmt: skip
    one = runs[0]
    cpu_bound = 1000 / one.cpu_ms  # objects/s one core sustains at the measured CPU cost
    per_worker = min(cpu_bound, one.rate)
    print(f"projection for {TARGET:,} objects: each worker on its own core does "
          f"min(CPU-bound {cpu_bound:,.0f}/s = 1000 / {one.cpu_ms:.3f} CPU-ms, "
          f"latency-bound {one.rate:,.0f}/s as measured with one worker) = "
          f"{per_worker:,.0f} objects/s; N workers N times that (imports split in batches, "
          "a database that keeps up)")  # fmt: skip
    for workers in (1, 4, 16):
        hours = TARGET / (per_worker * workers) / 3600
        print(f"  {workers:>2} worker(s): {hours:.2f} h")


if __name__ == "__main__":
    main()
