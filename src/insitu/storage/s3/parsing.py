"""Listing pages parsed once, and cheaply.

botocore parses every 200 response body of S3 an extra time, whole, to see whether it is an
error document sent with a 200 (CopyObject can do that) or a body cut short by the network
(``handlers._handle_200_error``, which makes either a retried 500). For a page of 1,000 keys
that second parse cost about as much as the page's real parse. A listing page whose body ends
with its root's closing tag is complete and is not an error document (whose root is
``Error``), so for those the check is skipped; every other response still gets it.

The real parse then walks the page through botocore's model, element by element in Python:
most of a lister's CPU, and what capped one process near 15,000 listed keys a second. A
complete ListObjectsV2 page made only of the elements below is read here instead, into the
same dictionary botocore would make (its handlers after the call, such as the decoding of
URL-encoded keys, run on it as before); a page with anything else goes to botocore whole.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from xml.etree import ElementTree

from botocore import handlers

_LISTINGS = {"ListObjectsV2": b"</ListBucketResult>", "ListObjects": b"</ListBucketResult>"}
_EVENT = "before-parse.s3.*"
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"

_TEXT = {"Name", "Prefix", "Delimiter", "EncodingType", "ContinuationToken",
         "NextContinuationToken", "StartAfter"}  # fmt: skip
_NUMBERS = {"MaxKeys", "KeyCount"}
_OBJECT_TEXT = {"Key", "ETag", "StorageClass", "ChecksumType"}


def parse_listings_once(client: Any) -> None:
    """Make ``client`` parse complete listing pages once, ListObjectsV2 pages cheaply."""
    events = client.meta.events
    events.unregister(_EVENT, handlers._handle_200_error)  # noqa: SLF001
    events.register_first(_EVENT, _before_parse)


def _before_parse(
    operation_model: Any, response_dict: Any, customized_response_dict: Any, **kwargs: Any
) -> None:
    end = _LISTINGS.get(operation_model.name)
    if end is not None and response_dict and response_dict.get("status_code") == 200:
        body = response_dict.get("body")
        if isinstance(body, bytes) and body.rstrip().endswith(end):
            parsed = read_page(body) if operation_model.name == "ListObjectsV2" else None
            if parsed is not None:
                customized_response_dict.update(parsed)
                response_dict["body"] = b""  # botocore's own parse then finds nothing to do
            return
    handlers._handle_200_error(  # noqa: SLF001
        operation_model=operation_model,
        response_dict=response_dict,
        customized_response_dict=customized_response_dict,
        **kwargs,
    )


def read_page(body: bytes) -> dict[str, Any] | None:
    """A ListObjectsV2 page as botocore's parse gives it, or None for anything unexpected."""
    try:
        root = ElementTree.fromstring(body)  # noqa: S314
    except ElementTree.ParseError:
        return None
    if root.tag != f"{_NS}ListBucketResult":
        return None
    try:
        return _read(root)
    except (ValueError, TypeError):  # a number or a date in a form of its own: botocore's
        return None


def _read(root: ElementTree.Element) -> dict[str, Any] | None:
    page: dict[str, Any] = {}
    contents: list[dict[str, Any]] = []
    prefixes: list[dict[str, str]] = []
    for element in root:
        name = element.tag.removeprefix(_NS)
        if name == "Contents":
            entry = _object(element)
            if entry is None:
                return None
            contents.append(entry)
        elif name == "CommonPrefixes":
            children = list(element)
            if len(children) != 1 or children[0].tag != f"{_NS}Prefix":
                return None
            prefixes.append({"Prefix": children[0].text or ""})
        elif name in _TEXT:
            page[name] = element.text or ""
        elif name in _NUMBERS:
            page[name] = int(element.text or "0")
        elif name == "IsTruncated":
            page[name] = element.text == "true"
        else:
            return None
    if contents:
        page["Contents"] = contents
    if prefixes:
        page["CommonPrefixes"] = prefixes
    return page


def _object(element: ElementTree.Element) -> dict[str, Any] | None:
    entry: dict[str, Any] = {}
    for field in element:
        name = field.tag.removeprefix(_NS)
        text = field.text or ""
        if name in _OBJECT_TEXT:
            entry[name] = text
        elif name == "Size":
            entry[name] = int(text)
        elif name == "LastModified":
            entry[name] = datetime.fromisoformat(text)
            if entry[name].tzinfo is None:
                return None  # botocore reads a time without a zone as UTC: left to it
        elif name == "ChecksumAlgorithm":
            entry.setdefault(name, []).append(text)
        else:
            return None
    return entry
