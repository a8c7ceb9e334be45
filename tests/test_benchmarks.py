"""The benchmarks still run end to end (on tiny inputs; their figures are not judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_bench(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_import_throughput_bench_prints_its_figures() -> None:
    output = run_bench("bench/import_throughput.py", "--objects", "200")
    for figure in ("raw ceiling", "insitu import", "ratio to ceiling", "CPU per imported object"):
        assert figure in output


def test_import_memory_bench_runs_on_a_local_source() -> None:
    output = run_bench("bench/import_throughput.py", "--memory", "--memory-sizes", "100,300")
    assert "300 objects (local source)" in output and "peak RSS growth" in output


def test_signed_url_bench_prints_its_rate() -> None:
    output = run_bench("bench/signed_urls.py", "--seconds", "1", "--assets", "10", "--workers", "1")
    assert "signed URLs per second" in output


def test_circulation_bench_prints_its_rate() -> None:
    output = run_bench(
        "bench/circulation.py", "--seconds", "1", "--assets", "30", "--batch", "10",
        "--workers", "1",
    )  # fmt: skip
    assert "signed URLs per second" in output


def test_reconcile_bench_prints_its_figures() -> None:
    output = run_bench("bench/reconcile.py", "--case", "churn", "--churn-objects", "300")
    for figure in ("list requests", "other requests", "CPU per asset", "peak RSS growth"):
        assert figure in output


def test_scale_out_bench_prints_its_figures() -> None:
    output = run_bench(
        "bench/scale_out.py", "--objects", "300", "--workers", "1", "--latency-ms", "0"
    )
    for figure in ("objects/s", "CPU per object", "peak RSS per worker", "requests per object",
                   "projection for 10,000,000 objects", "16 worker(s)"):  # fmt: skip
        assert figure in output


def test_events_bench_prints_its_rate_and_latency() -> None:
    output = run_bench("bench/events.py", "--events", "20", "--samples", "3")
    for figure in ("events applied by one consumer", "PutObject -> in circulation", "p99"):
        assert figure in output


def test_heads_bench_reads_every_object_both_ways() -> None:
    output = run_bench("bench/heads.py", "--objects", "2000", "--latency-ms", "0")
    assert "batch path (libcurl): 2,000 of 2,000 objects" in output
    assert "256 threads: 2,000 of 2,000 objects" in output
