"""Signed URLs per second handed out through ``/circulation`` in batches, every URL audited.

Imports objects from moto into a fresh SQLite-backed insitu, starts ``insitu serve`` (2
processes by default), then has ``wrk`` keep 8 connections asking
``GET /v1/projects/{id}/circulation?limit=100&after=CURSOR`` from random cursors, each answer
carrying ``--batch`` assets with a fresh signed URL, all on the audit trail.

    .venv/bin/python bench/circulation.py [--seconds 10] [--batch 100] [--clients 8]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.serving import lua_list, run_wrk, served_assets  # noqa: E402

SCRIPT = """
local cursors = %s
request = function()
  return wrk.format("GET", "/v1/projects/%s/circulation?limit=%d&after=" ..
    cursors[math.random(#cursors)], {["Authorization"] = "Bearer %s"})
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100, help="assets per circulation request")
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="insitu server processes")
    args = parser.parse_args()
    if args.assets <= args.batch:
        raise SystemExit("--assets must be larger than --batch")

    with served_assets(args.assets, args.workers) as served:
        # Any cursor with at least a full batch after it, so every answer carries --batch URLs.
        cursors = served.asset_ids[: len(served.asset_ids) - args.batch]
        sample = httpx.get(
            f"{served.base}/v1/projects/{served.project_id}/circulation",
            params={"limit": args.batch, "after": cursors[-1]},
            headers={"Authorization": f"Bearer {served.key}"},
        )
        assert sample.status_code == 200, sample.text
        assert len(sample.json()["items"]) == args.batch, sample.text
        script = SCRIPT % (lua_list(cursors), served.project_id, args.batch, served.key)
        result = run_wrk(served, script, args.clients, args.seconds)
    urls = result.requests * args.batch
    print(
        f"{result.requests:,} circulation requests of {args.batch} in {result.seconds:.1f} s "
        f"with {args.clients} concurrent clients\n"
        f"signed URLs per second: {urls / result.seconds:,.0f} "
        f"(p99 latency {result.p99_ms:.1f} ms per batch)"
    )


if __name__ == "__main__":
    main()
