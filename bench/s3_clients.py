"""Compare boto3 and obstore on insitu's S3 data plane against a moto server it starts.

For each client: list N keys (default 10,000) a page of 1,000 at a time, ranged GETs of bytes
0-4095 from 32 threads, and presigning one GET URL per key. Prints CPU milliseconds (process
time, so the client's own threads count) and wall milliseconds per object. moto runs in another
process, so its CPU is not counted.

    .venv/bin/python bench/s3_clients.py [--objects 10000] [--threads 32]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.moto import (  # noqa: E402
    TEST_CREDENTIALS,
    make_s3_client,
    seed,
    start_moto_server,
)

BUCKET = "bench"


def measure(n: int, work: Callable[[], object]) -> tuple[float, float]:
    """(CPU ms per object, wall ms per object) of ``work()`` over ``n`` objects."""
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return (time.process_time() - cpu) * 1000 / n, (time.perf_counter() - wall) * 1000 / n


def boto3_cases(endpoint: str, keys: list[str], threads: int) -> dict[str, Callable[[], object]]:
    client = make_s3_client(endpoint)

    def listing() -> None:
        count = 0
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, PaginationConfig={"PageSize": 1000}
        ):
            count += len(page.get("Contents", []))
        assert count == len(keys), count

    def get(key: str) -> bytes:
        body: bytes = client.get_object(Bucket=BUCKET, Key=key, Range="bytes=0-4095")["Body"].read()
        return body

    def ranged() -> None:
        with ThreadPoolExecutor(threads) as pool:
            assert all(len(b) == 4096 for b in pool.map(get, keys))

    def presign() -> None:
        for key in keys:
            client.generate_presigned_url(
                "get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=900
            )

    return {"list": listing, "ranged GET 0-4095": ranged, "presign": presign}


def obstore_cases(endpoint: str, keys: list[str], threads: int) -> dict[str, Callable[[], object]]:
    import obstore
    from obstore.store import S3Store

    def credentials() -> dict[str, object]:
        return {
            "access_key_id": TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "secret_access_key": TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "token": None,
            "expires_at": None,
        }

    store = S3Store(
        BUCKET,
        endpoint=endpoint,
        region="us-east-1",
        credential_provider=credentials,  # type: ignore[arg-type]
        client_options={"allow_http": True, "pool_max_idle_per_host": str(threads)},
        virtual_hosted_style_request=False,
    )

    def listing() -> None:
        count = sum(len(chunk) for chunk in obstore.list(store, chunk_size=1000))
        assert count == len(keys), count

    def get(key: str) -> bytes:
        return bytes(obstore.get_range(store, key, start=0, end=4096))

    def ranged() -> None:
        with ThreadPoolExecutor(threads) as pool:
            assert all(len(b) == 4096 for b in pool.map(get, keys))

    def presign() -> None:
        for key in keys:
            obstore.sign(store, "GET", key, timedelta(seconds=900))

    return {"list": listing, "ranged GET 0-4095": ranged, "presign": presign}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args()

    server = start_moto_server()
    try:
        client = make_s3_client(server.endpoint)
        client.create_bucket(Bucket=BUCKET)
        keys = [f"images/{i:07d}.bin" for i in range(args.objects)]
        started = time.perf_counter()
        payload = bytes(range(256)) * 32  # 8 KiB
        seed(client, BUCKET, dict.fromkeys(keys, payload), threads=32)
        print(f"seeded {len(keys)} objects in {time.perf_counter() - started:.1f}s", flush=True)

        rows = []
        for name, factory in (("boto3", boto3_cases), ("obstore", obstore_cases)):
            for case, work in factory(server.endpoint, keys, args.threads).items():
                work_per = measure(len(keys), work)
                rows.append((case, name, *work_per))
                print(f"  {name:8} {case:20} done", flush=True)
    finally:
        server.stop()

    print(f"\n{'operation':20} {'client':8} {'CPU ms/obj':>11} {'wall ms/obj':>12}")
    for case, name, cpu, wall in sorted(rows, key=lambda row: row[0]):
        print(f"{case:20} {name:8} {cpu:11.3f} {wall:12.3f}")


if __name__ == "__main__":
    main()
