"""``check_key``: a file's key under an import's source is refused exactly when its URI would
be, on every provider, though plain keys skip parsing the URI."""

from __future__ import annotations

import pytest

from insitu.errors import InvalidLocation
from insitu.storage.registry import check_key, parse_location

SOURCES = ["s3://bucket/images/", "gs://bucket/images/", "az://account/container/", "file:///srv/"]
KEYS = [
    "images/a.png",
    "images/deep/er/scan-001_v2~.dcm",
    "a" * 1024,
    "a" * 1025,  # over GCS's 1,024 bytes
    "images/./a.png",
    "images/../secret.png",
    "..",
    "images/a\x00.png",
    "images/a\r\n.png",
    "images/\ud800.png",  # a lone surrogate
    "images/été.png",
    "images/a b+c%20.png",
    "images//a.png",
    "images/a\t.png",
]


def refused(call: object) -> str | None:
    try:
        call()  # type: ignore[operator]
    except InvalidLocation as exc:
        return exc.detail
    return None


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("key", KEYS, ids=lambda key: repr(key)[:24])
def test_a_key_is_refused_exactly_when_its_uri_is(source: str, key: str) -> None:
    location = parse_location(source)
    uri = location.with_key(key).uri
    assert refused(lambda: check_key(location, key)) == refused(lambda: parse_location(uri))


def test_what_is_refused_says_why() -> None:
    location = parse_location("s3://bucket/images/")
    assert "'.' or '..' path segment" in (refused(lambda: check_key(location, "a/../b")) or "")
    assert "NUL" in (refused(lambda: check_key(location, "a\x00b")) or "")
