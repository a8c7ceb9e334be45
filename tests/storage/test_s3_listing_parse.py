"""Listing pages are parsed once, and cheaply, yet the same as botocore parses them.

An error sent with a 200, or a page cut short, is still an error (botocore's check, which the
S3 client skips only for complete listing pages). ListObjectsV2 pages read without botocore's
model parse give exactly what botocore gives: both clients list the same moto bucket, one as
insitu makes its clients, one plain botocore; odd keys (URL-encoded on the wire, decoded by
botocore's own handler afterwards), folders, continuation and start-after all take part.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from insitu.storage.s3.parsing import parse_listings_once, read_page
from tests.fixtures.moto import make_s3_client, seed

PAGE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Name>bench</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>"
    b"<IsTruncated>false</IsTruncated><Contents><Key>a.png</Key>"
    b"<LastModified>2025-01-01T00:00:00.000Z</LastModified><ETag>&quot;x&quot;</ETag>"
    b"<Size>3</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>\n"
)
ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error.</Message></Error>"
)


@pytest.fixture
def serve() -> Iterator[dict[str, bytes]]:
    """An endpoint answering every request 200 with ``answer["body"]``."""
    answer = {"body": PAGE}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(answer["body"])))
            self.end_headers()
            self.wfile.write(answer["body"])

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    answer["endpoint"] = f"http://127.0.0.1:{server.server_port}".encode()
    yield answer
    server.shutdown()


def _client(endpoint: bytes) -> object:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint.decode(),
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    parse_listings_once(client)
    return client


def test_a_complete_page_is_listed(serve: dict[str, bytes]) -> None:
    page = _client(serve["endpoint"]).list_objects_v2(Bucket="bench")  # type: ignore[attr-defined]
    assert [item["Key"] for item in page["Contents"]] == ["a.png"]


@pytest.mark.parametrize("body", [ERROR, PAGE[: len(PAGE) // 2]], ids=["error-200", "cut-short"])
def test_an_error_sent_with_200_or_a_page_cut_short_is_an_error(
    serve: dict[str, bytes], body: bytes
) -> None:
    serve["body"] = body
    with pytest.raises(ClientError) as raised:
        _client(serve["endpoint"]).list_objects_v2(Bucket="bench")  # type: ignore[attr-defined]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


KEYS = [
    "a/with space.txt",
    "a/ünïcødé ✓ 日本.txt",
    "a/100%.txt",
    "a/x&y<z>.txt",
    "a/deeper/one.bin",
    "a/deeper/two.bin",
    "a/zz/three.bin",
    "b.txt",
]


def _pages(client: Any, bucket: str, **args: Any) -> list[dict[str, Any]]:
    pages = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, **args):
        page.pop("ResponseMetadata")
        pages.append(page)
    return pages


def test_listing_pages_read_here_equal_botocores_own(aws_env: str) -> None:
    plain, fast = make_s3_client(aws_env), make_s3_client(aws_env)
    parse_listings_once(fast)
    left_to_botocore: list[bytes] = []  # bodies still there once the page was read here
    fast.meta.events.register_last(
        "before-parse.s3.ListObjectsV2",
        lambda response_dict, **_: left_to_botocore.append(response_dict["body"]),
    )
    plain.create_bucket(Bucket="listing")
    seed(plain, "listing", {key: key.encode() for key in KEYS})
    for args in (
        {},
        {"PaginationConfig": {"PageSize": 3}},
        {"Prefix": "a/", "Delimiter": "/", "PaginationConfig": {"PageSize": 2}},
        {"StartAfter": "a/deeper/one.bin"},
        {"Prefix": "nothing/"},
    ):
        expected = _pages(plain, "listing", **args)
        assert _pages(fast, "listing", **args) == expected
        assert expected[0].get("Contents") or args.get("Prefix") == "nothing/"
    assert left_to_botocore and not any(left_to_botocore)


def test_a_page_with_elements_it_does_not_know_is_left_to_botocore() -> None:
    ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
    owner = (
        f"<ListBucketResult {ns}><IsTruncated>false</IsTruncated><Contents><Key>k</Key>"
        "<Owner><ID>x</ID></Owner></Contents></ListBucketResult>"
    )
    assert read_page(owner.encode()) is None
    for odd in ("<Size></Size>", "<LastModified>Mon, 12 Oct 2009 17:50:30 GMT</LastModified>",
                "<LastModified>2025-01-01T00:00:00</LastModified>"):  # fmt: skip
        page = f"<ListBucketResult {ns}><Contents><Key>k</Key>{odd}</Contents></ListBucketResult>"
        assert read_page(page.encode()) is None, odd
    assert read_page(b"<Error><Code>SlowDown</Code></Error>") is None
    assert read_page(b"<ListBucketResult") is None
