"""Signed URLs per second through the HTTP API, with 8 concurrent clients.

Starts a moto server, imports a few hundred objects into a fresh SQLite-backed insitu, starts
``insitu serve`` in its own process, then has 8 client threads (keep-alive connections) ask
``GET /v1/assets/{id}/url`` for random assets for a fixed time. Every URL is issued, audited
and returned exactly as a labeler's client would get it.

    .venv/bin/python bench/signed_urls.py [--seconds 10] [--clients 8]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.import_throughput import create_import, run_import, small_png  # noqa: E402
from tests.fixtures.moto import TEST_CREDENTIALS, make_s3_client, seed, start_moto_server  # noqa: E402

INSITU = str(Path(sys.executable).with_name("insitu"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
            server = subprocess.Popen(
                [INSITU, "serve", "--port", str(port), "--workers", str(args.workers)],
                env=os.environ.copy(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)

            issued = [0] * args.clients
            errors: list[str] = []
            stop_at = time.monotonic() + args.seconds

            def hammer(slot: int) -> None:
                headers = {"Authorization": f"Bearer {key}"}
                with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
                    while time.monotonic() < stop_at:
                        response = http.get(f"/v1/assets/{random.choice(asset_ids)}/url")
                        if response.status_code != 200 or not re.match(
                            r"https?://", response.json()["url"]
                        ):
                            errors.append(response.text[:200])
                            return
                        issued[slot] += 1

            started = time.monotonic()
            threads = [threading.Thread(target=hammer, args=(n,)) for n in range(args.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            if errors:
                raise SystemExit(f"requests failed: {errors[0]}")
            total = sum(issued)
            print(f"{total:,} signed URLs in {elapsed:.1f} s with {args.clients} clients")
            print(f"signed URLs per second: {total / elapsed:,.0f}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        moto.stop()


if __name__ == "__main__":
    main()
