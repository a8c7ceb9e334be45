"""Signed URLs per second through the HTTP API, one URL per request, 8 concurrent clients.

Imports a few hundred objects from moto into a fresh SQLite-backed insitu, starts
``insitu serve`` (2 processes by default), then has ``wrk`` keep 8 connections asking
``GET /v1/assets/{id}/url`` for random assets for a fixed time. Every URL is issued, audited
and returned exactly as a labeler's client would get it.

    .venv/bin/python bench/signed_urls.py [--seconds 10] [--clients 8]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.serving import lua_list, run_wrk, served_assets  # noqa: E402

SCRIPT = """
local ids = %s
request = function()
  return wrk.format("GET", "/v1/assets/" .. ids[math.random(#ids)] .. "/url", {
    ["Authorization"] = "Bearer %s"
  })
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2, help="insitu server processes")
    args = parser.parse_args()

    with served_assets(args.assets, args.workers) as served:
        sample = httpx.get(
            f"{served.base}/v1/assets/{served.asset_ids[0]}/url",
            headers={"Authorization": f"Bearer {served.key}"},
        )
        assert sample.status_code == 200 and re.match(r"https?://", sample.json()["url"]), sample
        result = run_wrk(
            served, SCRIPT % (lua_list(served.asset_ids), served.key), args.clients, args.seconds
        )
    print(
        f"{result.requests:,} signed URLs in {result.seconds:.1f} s with {args.clients} "
        f"concurrent clients\nsigned URLs per second: {result.requests / result.seconds:,.0f} "
        f"(p99 latency {result.p99_ms:.1f} ms)"
    )


if __name__ == "__main__":
    main()
