"""How fast one process reads the first bytes of many S3 objects: the batch path an import
uses (``S3ObjectStore.read_heads``, one libcurl thread) against one ranged GET per object
from 256 threads (``get_range``, obstore), on fakes3 (``../shared/tools/fakes3``) with
``--latency-ms`` per request.

Rounds of 1,000 objects are sent with two always in flight, as a worker does. ``--busy N``
runs N pure-Python threads beside the reads, as probing and writing threads do in a worker.
Prints objects/s and CPU milliseconds per object (process time, all threads).

    .venv/bin/python bench/heads.py [--objects 40000] [--latency-ms 30] [--busy 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.fakes3 import FakeS3, fakes3_key  # noqa: E402
from tests.fixtures.moto import TEST_CREDENTIALS  # noqa: E402

ROUND = 1000
LENGTH = 300  # every fakes3 object is at least 346 bytes


def batch_path(store: object, keys: list[str]) -> int:
    rounds: list[Future[dict[str, bytes]]] = []
    for start in range(0, len(keys), ROUND):
        wants = [(key, LENGTH) for key in keys[start : start + ROUND]]
        rounds.append(store.read_heads(wants))  # type: ignore[attr-defined]
        if len(rounds) > 2:
            rounds[-3].result()
    return sum(len(answered.result()) for answered in rounds)


def one_by_one(store: object, keys: list[str]) -> int:
    with ThreadPoolExecutor(256) as pool:
        reads = pool.map(lambda key: store.get_range(key, 0, LENGTH), keys)  # type: ignore[attr-defined]
        return sum(len(data) == LENGTH for data in reads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=40_000)
    parser.add_argument("--latency-ms", type=int, default=30)
    parser.add_argument("--busy", type=int, default=0, help="pure-Python threads beside")
    args = parser.parse_args()

    fakes3 = FakeS3(args.objects, args.latency_ms)
    os.environ["AWS_ENDPOINT_URL"] = fakes3.endpoint
    os.environ.update(TEST_CREDENTIALS)
    from insitu.config import Settings
    from insitu.storage.base import ProviderContext
    from insitu.storage.s3 import PROVIDER, S3Config

    def spin(stop: threading.Event) -> None:
        total = 0
        while not stop.is_set():
            for number in range(10_000):
                total += number

    try:
        context = ProviderContext(Settings(), "bench-org", "bench-connection", "bench")
        location = PROVIDER.parse("s3://bench/")
        keys = [fakes3_key(index) for index in range(args.objects)]
        for name, read in (("batch path (libcurl)", batch_path), ("256 threads", one_by_one)):
            store = PROVIDER.open(S3Config(), location=location, context=context)
            read(store, keys[:100])  # clients and connections made before the clock starts
            stop = threading.Event()
            for _ in range(args.busy):
                threading.Thread(target=spin, args=(stop,), daemon=True).start()
            cpu, wall = time.process_time(), time.perf_counter()
            read_count = read(store, keys)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            stop.set()
            cost = (
                f"with {args.busy} busy threads beside"
                if args.busy
                else f"{cpu * 1000 / len(keys):.3f} CPU-ms per object"
            )
            print(
                f"{name}: {read_count:,} of {len(keys):,} objects, "
                f"{read_count / wall:,.0f}/s, {cost}"
            )
    finally:
        fakes3.stop()


if __name__ == "__main__":
    main()
