"""What the HTTP benchmarks share: a served insitu with imported assets, and wrk to drive it.

``served_assets`` starts a moto server, imports ``assets`` small PNGs into a fresh SQLite-backed
insitu and starts ``insitu serve``; ``run_wrk`` drives it with wrk (a C load generator, so the
client does not starve the server on 2 cores) and returns what wrk counted.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.moto import TEST_CREDENTIALS, make_s3_client, seed, start_moto_server  # noqa: E402
from tests.fixtures.processes import free_port, start_server  # noqa: E402

from bench.import_throughput import create_import, run_import, small_png  # noqa: E402

INSITU = str(Path(sys.executable).with_name("insitu"))

# wrk's summary, printed by the Lua ``done`` hook every script ends with.
WRK_DONE = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %f %d\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(99)))
end
"""


@dataclass
class Served:
    base: str
    key: str
    project_id: str
    asset_ids: list[str]
    workdir: Path


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p99_ms: float


@contextmanager
def served_assets(assets: int, workers: int) -> Iterator[Served]:
    """insitu serving ``assets`` imported PNGs from a moto bucket, with an admin key."""
    moto = start_moto_server()
    server = None
    try:
        os.environ.update(TEST_CREDENTIALS)
        os.environ["AWS_ENDPOINT_URL"] = moto.endpoint
        client = make_s3_client(moto.endpoint)
        client.create_bucket(Bucket="bench")
        seed(client, "bench", {f"i/{n:05d}.png": small_png(n) for n in range(assets)})
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.update(
                {"INSITU_DATABASE_URL": f"sqlite:///{tmp}/bench.db", "INSITU_SECRET_KEY": "bench"}
            )
            job_id = create_import("s3://bench/i/", "s3", {})
            run_import(job_id)
            from insitu.db import session_scope
            from insitu.imports import service as imports
            from insitu.models import Asset, Organization
            from insitu.organizations import service as organizations

            with session_scope() as session:
                asset_ids = sorted(asset.id for asset in session.query(Asset))
                org = session.query(Organization).one()
                key = organizations.create_api_key(session, org=org, name="bench")
                project_id = imports.get_any(session, job_id=job_id).project_id

            port = free_port()
            base = f"http://127.0.0.1:{port}"
            server = start_server(
                [INSITU, "serve", "--port", str(port), "--workers", str(workers)],
                f"{base}/healthz",
                env=os.environ.copy(),
                timeout=30,
                stderr=subprocess.PIPE,
            )
            yield Served(base, key, project_id, asset_ids, Path(tmp))
    finally:
        if server is not None:
            server.stop(timeout=30)
        moto.stop()


def run_wrk(served: Served, script: str, clients: int, seconds: float) -> WrkResult:
    """Run ``script`` (a wrk Lua ``request`` function) against ``served``; fail on any error."""
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk: apt-get install -y wrk")
    path = served.workdir / "bench.lua"
    path.write_text(script + WRK_DONE)
    output = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{seconds:g}s", "-s", str(path), served.base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"RESULT (\d+) (\d+) ([\d.]+) (\d+)", output)
    assert match, output
    if int(match[2]):
        raise SystemExit(f"{match[2]} requests failed:\n{output}")
    return WrkResult(int(match[1]), float(match[3]), int(match[4]) / 1000)


def lua_list(values: list[str]) -> str:
    return "{" + ",".join(f'"{value}"' for value in values) + "}"
