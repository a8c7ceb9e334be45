"""Cutting one long listing into key ranges that are listed at once.

S3 lists one folder a page at a time, each page waiting for the one before (about 10,000 keys
a second in-region), which is too slow for a folder of millions of files. Where the store can
start a listing after any string, a part that runs long is cut at keys that are likely to
fall among its remaining files: each range ``(cursor, last]`` is then listed by its own lister
thread. Where the cuts land decides only how even the ranges are, never what is listed: the
ranges are contiguous, so every key falls in exactly one of them.
"""

from __future__ import annotations

import string
from collections.abc import Iterator

from insitu.storage.base import ListPage

_CLASSES = (string.digits, string.ascii_uppercase, string.ascii_lowercase)
_ANY = "".join(_CLASSES)


def cut_points(prefix: str, first: str, after: str, last: str | None, count: int) -> list[str]:
    """Up to ``count`` increasing keys between ``after`` and ``last`` at which to cut the rest
    of a listing whose latest page ran from ``first`` to ``after``.

    Files are named alike, so the cuts are the page's last name with one character stepped
    up: after a page from ``img_0000000.png`` to ``img_0000999.png``, first at ten times the
    page's span (``img_001``, ``img_002`` ...: ten pages each), then coarser (``img_01`` ...).
    The nearest ranges are the likeliest to hold files; what lies past the last cut is the
    rest, cut again when it in turn runs long.
    """
    if len(after) <= len(prefix):
        return []
    differ = next(
        (i for i, (a, b) in enumerate(zip(first, after, strict=False)) if a != b),
        min(len(first), len(after)),
    )
    # The page's names vary from ``differ`` on: one place up steps over a span about the size
    # of a page (img_0001, img_0002: a thousand names each), two places up over ten pages.
    start = max(len(prefix), min(differ - 2, len(after) - 1))
    points: list[str] = []
    for position in range(start, len(prefix) - 1, -1):
        for char in _following(after[position]):
            point = after[:position] + char
            if last is not None and point >= last:
                return points
            points.append(point)
            if len(points) == count:
                return points
    return points


def _following(char: str) -> str:
    """The characters a name is likely to have after ``char`` at the same place: the rest of
    its class (digits, capitals, small letters), else any letter or digit after it."""
    for chars in _CLASSES:
        if char in chars:
            return chars[chars.index(char) + 1 :]
    return "".join(c for c in _ANY if c > char)


def up_to(pages: Iterator[ListPage], last: str | None) -> Iterator[ListPage]:
    """The pages of a listing up to key (or folder) ``last`` included; all of them if None."""
    if last is None:
        yield from pages
        return
    for page in pages:
        objects = [obj for obj in page.objects if obj.key <= last]
        folders = [folder for folder in page.prefixes if folder <= last]
        beyond = len(objects) < len(page.objects) or len(folders) < len(page.prefixes)
        if beyond or page.cursor is None or page.cursor >= last:
            yield ListPage(objects, None, folders)
            return
        yield page
