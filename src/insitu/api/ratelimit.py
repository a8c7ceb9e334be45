"""Rate limits per API key and per client address, and a stricter one on failed authentication.

Every count lives in this server process (token buckets in memory), so with N processes a
client may get up to N times each limit; that keeps the signed-URL hot path at a dictionary
lookup under a lock (about a microsecond) instead of a network round trip. The limits are
``INSITU_RATE_LIMIT_PER_KEY`` and ``INSITU_RATE_LIMIT_PER_ADDRESS`` (requests per second,
bursts of two seconds' worth) and ``INSITU_AUTH_FAILURES_PER_MINUTE``: once an address has
sent that many bad keys in a minute, every request from it is refused, even with a good key,
until the minute is over, so guessing keys is slow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from insitu.config import Settings
from insitu.errors import RateLimited

BURST_SECONDS = 2.0
FAILURE_WINDOW_SECONDS = 60.0
# Beyond this many tracked keys or addresses the oldest are forgotten, so a flood of made-up
# keys cannot grow memory without bound.
MAX_TRACKED = 100_000

Clock = Callable[[], float]


class TokenBuckets:
    """One token bucket per name: ``rate`` tokens a second, holding at most ``burst``."""

    def __init__(self, rate: float, burst: float, *, max_tracked: int = MAX_TRACKED) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.max_tracked = max_tracked
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, as of)
        self._lock = threading.Lock()

    def take(self, name: str, now: float) -> float:
        """Take one token for ``name``: 0.0 if there was one, else seconds until there is."""
        with self._lock:
            tokens, since = self._buckets.get(name, (self.burst, now))
            tokens = min(self.burst, tokens + (now - since) * self.rate)
            if tokens < 1.0:
                self._buckets[name] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._buckets[name] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_tracked:
                self._forget_oldest()
            return 0.0

    def _forget_oldest(self) -> None:
        # Dicts keep insertion order: the first entries are the longest-tracked names.
        for name in list(self._buckets)[: len(self._buckets) - self.max_tracked // 2]:
            del self._buckets[name]


class FailureWindows:
    """Failed authentications per address in fixed windows that start at the first failure."""

    def __init__(self, limit: int, window: float = FAILURE_WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._windows: dict[str, tuple[float, int]] = {}  # address -> (window start, failures)
        self._lock = threading.Lock()

    def blocked_for(self, address: str, now: float) -> float:
        """Seconds ``address`` must still wait (0.0 if it is not blocked)."""
        with self._lock:
            entry = self._windows.get(address)
        if entry is None:
            return 0.0
        start, failures = entry
        left = start + self.window - now
        return left if failures >= self.limit and left > 0 else 0.0

    def failed(self, address: str, now: float) -> None:
        with self._lock:
            start, failures = self._windows.get(address, (now, 0))
            if now - start >= self.window:
                start, failures = now, 0
            self._windows[address] = (start, failures + 1)
            if len(self._windows) > MAX_TRACKED:
                stale = [a for a, (s, _) in self._windows.items() if now - s >= self.window]
                for old in stale or list(self._windows)[: MAX_TRACKED // 2]:
                    del self._windows[old]


class RateLimiter:
    """The limits of one server process, from the settings."""

    def __init__(self, settings: Settings, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        per_key, per_address = settings.rate_limit_per_key, settings.rate_limit_per_address
        self.per_key = TokenBuckets(per_key, per_key * BURST_SECONDS) if per_key else None
        self.per_address = (
            TokenBuckets(per_address, per_address * BURST_SECONDS) if per_address else None
        )
        limit = settings.auth_failures_per_minute
        self.failures = FailureWindows(limit) if limit else None

    def admit(self, address: str, key: str | None) -> None:
        """Let one request from ``address`` (with ``key``, if any) through, or RateLimited."""
        now = self.clock()
        if self.failures is not None:
            wait = self.failures.blocked_for(address, now)
            if wait:
                raise RateLimited(
                    f"too many failed authentications from {address}: at most "
                    f"{self.failures.limit} a minute",
                    retry_after=wait,
                    fix="check the API key you send, then retry after Retry-After seconds",
                )
        if self.per_address is not None:
            wait = self.per_address.take(address, now)
            if wait:
                raise RateLimited(
                    f"too many requests from {address}: at most {self.per_address.rate:g} a second",
                    retry_after=wait,
                    fix="slow down and retry after Retry-After seconds",
                )
        if key is not None and self.per_key is not None:
            # The key as sent (capped), not its database row: this runs before any query.
            wait = self.per_key.take(key[:64], now)
            if wait:
                raise RateLimited(
                    f"too many requests with this key: at most {self.per_key.rate:g} a second",
                    retry_after=wait,
                    fix="slow down and retry after Retry-After seconds, or ask the operator "
                    "to raise INSITU_RATE_LIMIT_PER_KEY",
                )

    def failed(self, address: str) -> None:
        """Count one failed authentication from ``address``."""
        if self.failures is not None:
            self.failures.failed(address, self.clock())
