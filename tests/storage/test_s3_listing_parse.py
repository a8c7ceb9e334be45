"""A listing page is parsed once, yet an error sent with a 200, or a page cut short, is still
an error (botocore's check, which the S3 client skips only for complete listing pages)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from insitu.storage.s3.parsing import parse_listings_once

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
