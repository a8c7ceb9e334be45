"""The labeling hot paths (a signed URL, a batch from circulation) run on few threads.

Their work is short and mostly Python, so it holds the GIL: with one thread per request,
eight concurrent requests made eight threads take turns at the GIL, and a server process did
a third less work in total. A small pool of its own per process keeps them near one core's
worth of work each, and leaves the general thread pool to everything else (a slow verify
waiting on a customer's network never queues behind them, nor they behind it).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio
from fastapi import Request

T = TypeVar("T")

# Threads per process for the hot paths: one more than a single core, so a request waiting
# on the database (or a remote signer) does not hold up the next one.
HOT_PATH_THREADS = 2


async def on_hot_path(request: Request, function: Callable[..., T], *args: Any) -> T:
    """Run ``function(*args)`` in a worker thread of the hot paths' own small pool."""
    state = request.app.state
    limiter: anyio.CapacityLimiter | None = getattr(state, "hot_path_limiter", None)
    if limiter is None:  # made here: a limiter belongs to the running event loop
        limiter = state.hot_path_limiter = anyio.CapacityLimiter(HOT_PATH_THREADS)
    return await anyio.to_thread.run_sync(partial(function, *args), limiter=limiter)
