"""Signed URLs per second through the HTTP API, with 8 concurrent clients.

Starts a moto server, imports a few hundred objects into a fresh SQLite-backed insitu, starts
``insitu serve`` (2 processes by default), then has ``wrk`` keep 8 connections asking
``GET /v1/assets/{id}/url`` for random assets for a fixed time. Every URL is issued, audited
and returned exactly as a labeler's client would get it. wrk is used because a Python load
generator on the same 2 cores takes more CPU than the server it measures.

    .venv/bin/python bench/signed_urls.py [--seconds 10] [--clients 8]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.moto import TEST_CREDENTIALS, make_s3_client, seed, start_moto_server  # noqa: E402
from tests.fixtures.processes import free_port, start_server  # noqa: E402

from bench.import_throughput import create_import, run_import, small_png  # noqa: E402

INSITU = str(Path(sys.executable).with_name("insitu"))


WRK_SCRIPT = """
local ids = {%s}
request = function()
  return wrk.format("GET", "/v1/assets/" .. ids[math.random(#ids)] .. "/url", {
    ["Authorization"] = "Bearer %s"
  })
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%f %%d\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(99)))
end
"""


def measure(
    base: str, key: str, asset_ids: list[str], clients: int, seconds: float, workdir: Path
) -> str:
    """Drive the API with wrk (a C load generator, so the client does not starve the server)."""
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk: apt-get install -y wrk")
    script = workdir / "urls.lua"
    script.write_text(WRK_SCRIPT % (",".join(f'"{asset}"' for asset in asset_ids), key))
    sample = httpx.get(
        f"{base}/v1/assets/{asset_ids[0]}/url", headers={"Authorization": f"Bearer {key}"}
    )
    assert sample.status_code == 200 and re.match(r"https?://", sample.json()["url"]), sample.text
    output = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{seconds:g}s", "-s", str(script), base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"RESULT (\d+) (\d+) ([\d.]+) (\d+)", output)
    assert match, output
    total, errors, elapsed, p99_us = int(match[1]), int(match[2]), float(match[3]), int(match[4])
    if errors:
        raise SystemExit(f"{errors} requests failed:\n{output}")
    return (
        f"{total:,} signed URLs in {elapsed:.1f} s with {clients} concurrent clients\n"
        f"signed URLs per second: {total / elapsed:,.0f} (p99 latency {p99_us / 1000:.1f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2, help="insitu server processes")
    args = parser.parse_args()

    moto = start_moto_server()
    server = None
    try:
        os.environ.update(TEST_CREDENTIALS)
        os.environ["AWS_ENDPOINT_URL"] = moto.endpoint
        client = make_s3_client(moto.endpoint)
        client.create_bucket(Bucket="bench")
        seed(client, "bench", {f"i/{n:05d}.png": small_png(n) for n in range(args.assets)})
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.update(
                {"INSITU_DATABASE_URL": f"sqlite:///{tmp}/bench.db", "INSITU_SECRET_KEY": "bench"}
            )
            run_import(create_import("s3://bench/i/", "s3", {}))
            from insitu.db import session_scope
            from insitu.models import Asset, Organization
            from insitu.organizations import service as organizations

            with session_scope() as session:
                asset_ids = [asset.id for asset in session.query(Asset)]
                org = session.query(Organization).one()
                key = organizations.create_api_key(session, org=org, name="bench")

            port = free_port()
            base = f"http://127.0.0.1:{port}"
            server = start_server(
                [INSITU, "serve", "--port", str(port), "--workers", str(args.workers)],
                f"{base}/healthz",
                env=os.environ.copy(),
                timeout=30,
                stderr=subprocess.PIPE,
            )

            print(measure(base, key, asset_ids, args.clients, args.seconds, Path(tmp)))
    finally:
        if server is not None:
            server.stop(timeout=30)
        moto.stop()


if __name__ == "__main__":
    main()
