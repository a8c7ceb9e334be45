"""A listing page parsed once, not twice.

botocore parses every 200 response body of S3 an extra time, whole, to see whether it is an
error document sent with a 200 (CopyObject can do that) or a body cut short by the network
(``handlers._handle_200_error``, which makes either a retried 500). For a page of 1,000 keys
that second parse cost about as much as the page's real parse. A listing page whose body ends
with its root's closing tag is complete and is not an error document (whose root is
``Error``), so for those the check is skipped; every other response still gets it.
"""

from __future__ import annotations

from typing import Any

from botocore import handlers

_LISTINGS = {"ListObjectsV2": b"</ListBucketResult>", "ListObjects": b"</ListBucketResult>"}
_EVENT = "before-parse.s3.*"


def parse_listings_once(client: Any) -> None:
    """Make ``client`` skip botocore's second parse for complete listing pages."""
    events = client.meta.events
    events.unregister(_EVENT, handlers._handle_200_error)  # noqa: SLF001
    events.register_first(_EVENT, _handle_200_error)


def _handle_200_error(operation_model: Any, response_dict: Any, **kwargs: Any) -> None:
    end = _LISTINGS.get(operation_model.name)
    if end is not None and response_dict and response_dict.get("status_code") == 200:
        body = response_dict.get("body")
        if isinstance(body, bytes) and body.rstrip().endswith(end):
            return
    handlers._handle_200_error(operation_model, response_dict, **kwargs)  # noqa: SLF001
