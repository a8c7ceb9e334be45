"""The merge at the heart of a reconcile: a listing and the known assets, both in key order.

Both sides arrive sorted by location (byte order, as object stores list), so one pass pairs
them like a merge join, holding one page of each in memory however many objects there are:

    listing:  a.png  b.png         d.png
    assets:   a.png         c.png  d.png
    pairs:    (a, a) (b, -) (-, c) (d, d)

A side that is not strictly increasing would make the pairing wrong (an asset reported gone
that is merely listed out of order), so it stops the walk with ``OutOfOrder`` instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class HasLocation(Protocol):
    @property
    def location(self) -> str: ...


L = TypeVar("L", bound=HasLocation)
K = TypeVar("K", bound=HasLocation)


class OutOfOrder(Exception):
    """A side of the merge was not sorted: pairing it would report present files as gone."""

    def __init__(self, side: str, previous: str, current: str) -> None:
        super().__init__(f"the {side} went from {previous!r} back to {current!r}")
        self.side = side


@dataclass(frozen=True, slots=True)
class Pair(Generic[L, K]):
    """One location: its listed object, its known asset, or both."""

    listed: L | None
    known: K | None


def merge(listed: Iterable[L], known: Iterable[K]) -> Iterator[Pair[L, K]]:
    """Pair two location-ordered streams; a location missing on one side has None there."""
    left, right = _ordered(listed, "listing"), _ordered(known, "assets")
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a.location < b.location):
            yield Pair(a, None)
            a = next(left, None)
        elif a is None or b.location < a.location:
            yield Pair(None, b)
            b = next(right, None)
        else:
            yield Pair(a, b)
            a, b = next(left, None), next(right, None)


def _ordered(items: Iterable[L], side: str) -> Iterator[L]:
    previous: str | None = None
    for item in items:
        if previous is not None and item.location <= previous:
            raise OutOfOrder(side, previous, item.location)
        previous = item.location
        yield item
