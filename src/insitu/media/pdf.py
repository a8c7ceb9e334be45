"""PDF page count and first page size, when a few ranged reads can find them.

A linearized PDF names its page count in its first object. Otherwise the trailer (at the
end) names the catalog, the cross-reference table says where it is, and the catalog names
the page tree, whose root has ``/Count`` and usually the ``/MediaBox``. Cross-reference
*streams* whose objects sit in compressed object streams are not followed: such a PDF is
recorded by kind and type alone (the facts are "if cheap", never a reason to refuse it).
"""

from __future__ import annotations

import re
from typing import Any

from insitu.media.rangedfile import BudgetExceeded, RangedFile

_TAIL = 4096
_OBJECT_READ = 4096
_MAX_LOOKUPS = 8

_VERSION = re.compile(rb"%PDF-(\d\.\d)")
_LINEARIZED_PAGES = re.compile(rb"/Linearized\b[^>]*?/N\s+(\d+)", re.S)
_STARTXREF = re.compile(rb"startxref\s+(\d+)")
_ROOT = re.compile(rb"/Root\s+(\d+)\s+\d+\s+R")
_PAGES = re.compile(rb"/Pages\s+(\d+)\s+\d+\s+R")
_COUNT = re.compile(rb"/Count\s+(\d+)")
_KID = re.compile(rb"/Kids\s*\[\s*(\d+)\s+\d+\s+R")
_TYPE_PAGE = re.compile(rb"/Type\s*/Page\b(?!s)")
_ROTATE = re.compile(rb"/Rotate\s+(-?\d+)")
_NUMBER = rb"\s*(-?\d*\.?\d+)"
_MEDIABOX = re.compile(rb"/MediaBox\s*\[" + _NUMBER * 4 + rb"\s*\]")
_SUBSECTION = re.compile(rb"(\d+)\s+(\d+)\s*[\r\n]+")


class _Gone(Exception):
    """The cheap path ended: keep what was learned so far."""


def pdf_details(rf: RangedFile) -> dict[str, Any]:
    """Page count and first page size (in points) when cheap; never raises for a bad PDF."""
    head = rf.pread(0, 1024)
    details: dict[str, Any] = {}
    version = _VERSION.search(head)
    if version:
        details["pdf_version"] = version.group(1).decode()
    linearized = _LINEARIZED_PAGES.search(head)
    if linearized:
        details["page_count"] = int(linearized.group(1))
    try:
        _walk_page_tree(_Reader(rf), details)
    except (_Gone, BudgetExceeded, ValueError, IndexError):
        pass  # the page facts are optional: the PDF is recorded by kind and type
    return details


def _walk_page_tree(reader: _Reader, details: dict[str, Any]) -> None:
    catalog = reader.object(reader.root())
    pages = _PAGES.search(catalog)
    if not pages:
        raise _Gone
    node = reader.object(int(pages.group(1)))
    count = _COUNT.search(node)
    if count:
        details.setdefault("page_count", int(count.group(1)))
    box, rotate = _MEDIABOX.search(node), _ROTATE.search(node)
    for _ in range(4):  # descend the first kids to the first page; boxes are inherited
        if _TYPE_PAGE.search(node):
            break
        kid = _KID.search(node)
        if not kid:
            break
        node = reader.object(int(kid.group(1)))
        box, rotate = _MEDIABOX.search(node) or box, _ROTATE.search(node) or rotate
    if box:
        x0, y0, x1, y1 = (float(v) for v in box.groups())
        width, height = abs(x1 - x0), abs(y1 - y0)
        if rotate and int(rotate.group(1)) % 180:
            width, height = height, width
        details["page_width_pt"] = round(width, 2)
        details["page_height_pt"] = round(height, 2)


class _Reader:
    """Objects by number via the classic cross-reference table, at most a few reads each."""

    def __init__(self, rf: RangedFile) -> None:
        self.rf = rf
        self.lookups = 0
        tail = rf.pread(max(0, rf.size - _TAIL), _TAIL)
        starts = _STARTXREF.findall(tail)
        if not starts:
            raise _Gone
        self.xref = int(starts[-1])
        self.tail = tail

    def root(self) -> int:
        root = _ROOT.findall(self.tail)
        if root:
            return int(root[-1])
        found = _ROOT.search(self._read(self.xref, _OBJECT_READ))  # a cross-reference stream
        if not found:
            raise _Gone
        return int(found.group(1))

    def object(self, number: int) -> bytes:
        data = self._read(self._offset(number), _OBJECT_READ)
        end = data.find(b"endobj")
        return data[: end if end >= 0 else len(data)]

    def _offset(self, number: int) -> int:
        table = self._read(self.xref, 64)
        if not table.startswith(b"xref"):
            raise _Gone  # a cross-reference stream: not followed (see the module docstring)
        pos = self.xref + 4
        for _ in range(64):  # subsections: "first count" then count 20-byte entries
            header = self._read(pos, 64).lstrip()
            skipped = len(self._read(pos, 64)) - len(header)
            match = _SUBSECTION.match(header)
            if not match:
                raise _Gone
            first, count = int(match.group(1)), int(match.group(2))
            entries = pos + skipped + match.end()
            if first <= number < first + count:
                entry = self._read(entries + 20 * (number - first), 20)
                if entry[17:18] != b"n":
                    raise _Gone
                return int(entry[:10])
            pos = entries + 20 * count
        raise _Gone

    def _read(self, start: int, length: int) -> bytes:
        if not self.rf.cached(start, start + length):
            self.lookups += 1
            if self.lookups > _MAX_LOOKUPS:
                raise _Gone
        return self.rf.pread(start, length)
