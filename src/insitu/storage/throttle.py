"""Politeness towards a store: requests in flight capped per bucket, fewer when it throttles.

Every data-plane request a store sends (a listing page, a HEAD, a ranged GET) goes through
its bucket's ``Throttle``, shared by all imports and reconciles of this process:

- at most ``limit`` requests are in flight at once; the limit starts at the configured cap
  (INSITU_STORE_MAX_IN_FLIGHT) and moves AIMD-style: halved when the store says "slow down"
  (or times out), at most once per ``CUT_INTERVAL``, and raised by one after each ``limit``
  successes, back up to the cap. A throttled import slows down instead of failing;
- a transient failure (``StoreTransient``: 503 SlowDown, 429, timeouts, resets, 5xx, as
  each provider's error mapping classifies them) is retried after an exponential backoff
  with full jitter, outside the cap, so the waiting requests do not hold slots. Only when
  the retries are spent is the error raised, still a ``StoreTransient``: the caller knows
  to try the work again later rather than record the file as failed.

The SDKs' own retries are kept short (obstore: none) so this layer sees throttling and can
slow everyone down, instead of each thread hammering on alone.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from insitu.errors import StoreThrottled, StoreTransient

T = TypeVar("T")

# The least the limit shrinks to: a throttled store still sees steady, slow progress.
FLOOR = 4
# Cuts closer together than this are one congestion event, not several (one round trip of
# answers from the requests that were in flight when the first "slow down" came back).
CUT_INTERVAL = 0.2


@dataclass(frozen=True)
class Backoff:
    """How long to wait before retry ``n`` (1, 2, ...): uniform in [0, min(cap, base·2^n)]."""

    attempts: int = 10
    base: float = 0.05
    cap: float = 20.0

    def delay(self, retry: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2**retry))  # noqa: S311 (jitter)


class Throttle:
    """One bucket's cap on requests in flight, with AIMD on throttling and retries."""

    def __init__(self, limit: int, *, backoff: Backoff | None = None) -> None:
        self.cap = max(1, limit)
        self.limit = float(self.cap)
        self.backoff = backoff or Backoff()
        self.in_flight = 0
        self.throttled = 0  # transient failures seen (each one retried or raised)
        self._cond = threading.Condition(threading.Lock())
        self._waiting = 0
        self._last_cut = 0.0

    def call(self, request: Callable[..., T], *args: Any, what: str | Callable[[], str]) -> T:
        """``request(*args)`` within the cap, retried on transient failures; ``what`` words
        the error raised when the retries are spent (a callable: worded only then, as most
        requests never fail)."""
        retry = 0
        started = time.monotonic()
        while True:
            self._acquire()
            try:
                result = request(*args)
            except StoreTransient as exc:
                self.give_back(ok=False, transient=True)
                retry += 1
                if retry >= self.backoff.attempts:
                    worded = what if isinstance(what, str) else what()
                    raise _exhausted(exc, worded, retry, time.monotonic() - started) from exc
                time.sleep(self.backoff.delay(retry))
                continue
            except BaseException:
                self.give_back(ok=False, transient=False)
                raise
            self.give_back(ok=True, transient=False)
            return result

    def try_take(self) -> bool:
        """One slot if one is free now and no request is waiting for one (those go first),
        for a request sent without waiting (``heads``); give it back with ``give_back``."""
        with self._cond:
            if self._waiting or self.in_flight >= int(self.limit):
                return False
            self.in_flight += 1
            return True

    def give_back(self, *, ok: bool, transient: bool) -> None:
        """Return a slot after its request: answered (``ok``), or told to wait (``transient``).
        AIMD: one more slot per ``limit`` answers; halved on "slow down", once per
        ``CUT_INTERVAL``."""
        with self._cond:
            self.in_flight -= 1
            if ok and self.limit < self.cap:
                self.limit = min(self.cap, self.limit + 1 / self.limit)
            elif transient:
                self.throttled += 1
                now = time.monotonic()
                if now - self._last_cut >= CUT_INTERVAL:
                    self._last_cut = now
                    self.limit = max(FLOOR, self.limit / 2)
            if self._waiting:
                self._cond.notify()

    def _acquire(self) -> None:
        with self._cond:
            while self.in_flight >= int(self.limit):
                self._waiting += 1
                self._cond.wait()
                self._waiting -= 1
            self.in_flight += 1


def _exhausted(exc: StoreTransient, what: str, attempts: int, seconds: float) -> StoreTransient:
    kind = type(exc)
    reason = "kept throttling" if isinstance(exc, StoreThrottled) else "kept failing"
    fix = (
        "nothing is lost: try it again later (an import requeues the batch); if it keeps "
        "happening, lower INSITU_STORE_MAX_IN_FLIGHT or INSITU_IMPORT_CONCURRENCY, or ask the "
        "store's owner for a higher request rate"
    )
    return kind(
        f"{what}: the store {reason} after {attempts} attempts over {seconds:.1f} s ({exc.detail})",
        fix=fix,
        attempts=attempts,
    )


_throttles: dict[Hashable, Throttle] = {}
_lock = threading.Lock()


def for_bucket(key: Hashable, limit: int) -> Throttle:
    """The process-wide throttle of one bucket (``key``: provider, endpoint, bucket)."""
    with _lock:
        throttle = _throttles.get(key)
        if throttle is None or throttle.cap != max(1, limit):
            throttle = _throttles[key] = Throttle(limit)
        return throttle


def clear() -> None:
    """Forget every bucket's throttle (tests, changed settings)."""
    with _lock:
        _throttles.clear()
