"""The merge at the heart of a reconcile pairs two key-ordered streams, or refuses to."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from insitu.reconcile.walk import OutOfOrder, merge


@dataclass(frozen=True)
class At:
    location: str


def pairs(listed: list[str], known: list[str]) -> list[tuple[str | None, str | None]]:
    return [
        (p.listed.location if p.listed else None, p.known.location if p.known else None)
        for p in merge([At(x) for x in listed], [At(x) for x in known])
    ]


def test_pairs_each_location_once_with_none_on_the_side_that_lacks_it() -> None:
    assert pairs(["a", "b", "d"], ["a", "c", "d", "e"]) == [
        ("a", "a"), ("b", None), (None, "c"), ("d", "d"), (None, "e"),
    ]  # fmt: skip
    assert pairs([], ["a"]) == [(None, "a")] and pairs(["a"], []) == [("a", None)]


def test_byte_order_is_code_point_order_for_odd_keys() -> None:
    keys = sorted(
        ["s3://b/a/x", "s3://b/a.b", "s3://b/a%20", "s3://b/ä", "s3://b/日本", "s3://b/A"]
    )
    assert pairs(keys, keys) == [(k, k) for k in keys]


@pytest.mark.parametrize("side", ["listing", "assets"])
def test_a_side_out_of_order_stops_the_walk(side: str) -> None:
    bad, good = ["b", "a"], ["a", "b"]
    with pytest.raises(OutOfOrder) as caught:
        pairs(bad if side == "listing" else good, bad if side == "assets" else good)
    assert caught.value.side == side
