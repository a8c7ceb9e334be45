"""The SigV4 verifier the S3 tests rely on: it must accept real URLs and catch every forgery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import pytest
from botocore.config import Config

from tests.sigv4 import SignatureMismatch, SigV4Error, URLExpired, verify_presigned_url

SECRET = "test-secret-key"
KEY = "odd/ünï cødé +100%?x=1#frag.txt"


def _presign(key: str = KEY, *, expires: int = 900, token: str | None = None) -> str:
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key=SECRET,
        aws_session_token=token,
        region_name="eu-west-1",
        config=Config(signature_version="s3v4"),
    )
    url: str = client.generate_presigned_url(
        "get_object", Params={"Bucket": "bkt", "Key": key}, ExpiresIn=expires
    )
    return url


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_verifier_accepts_a_url_presigned_by_boto3() -> None:
    granted = verify_presigned_url(_presign(), secret_key=SECRET)
    assert granted.path == f"/bkt/{KEY}"
    assert granted.region == "eu-west-1"
    assert granted.access_key == "AKIDTEST"
    assert granted.expires_at - granted.signed_at == timedelta(seconds=900)


def test_verifier_accepts_session_token_urls() -> None:
    granted = verify_presigned_url(_presign(token="SESSION/TOKEN+="), secret_key=SECRET)
    assert granted.query["X-Amz-Security-Token"] == "SESSION/TOKEN+="


def test_verifier_rejects_another_secret_key() -> None:
    with pytest.raises(SignatureMismatch):
        verify_presigned_url(_presign(), secret_key="other-secret")


def test_verifier_rejects_a_url_pointing_at_another_key() -> None:
    url = _presign("images/a.png").replace("/bkt/images/a.png", "/bkt/images/b.png")
    with pytest.raises(SignatureMismatch):
        verify_presigned_url(url, secret_key=SECRET)


def test_verifier_rejects_another_bucket_or_host() -> None:
    url = _presign("a.png")
    with pytest.raises(SignatureMismatch):
        verify_presigned_url(url.replace("/bkt/", "/other/"), secret_key=SECRET)
    with pytest.raises(SignatureMismatch):
        verify_presigned_url(url.replace("127.0.0.1:9", "127.0.0.1:10"), secret_key=SECRET)


def test_verifier_rejects_a_lengthened_expiry_or_added_parameter() -> None:
    url = _presign(expires=60)
    with pytest.raises(SignatureMismatch):
        verify_presigned_url(_with_query(url, **{"X-Amz-Expires": "604800"}), secret_key=SECRET)
    with pytest.raises(SignatureMismatch):
        verify_presigned_url(
            _with_query(url, **{"response-content-type": "text/html"}), secret_key=SECRET
        )


def test_verifier_rejects_a_missing_signature() -> None:
    parts = urlsplit(_presign())
    query = [(n, v) for n, v in parse_qsl(parts.query) if n != "X-Amz-Signature"]
    with pytest.raises(SigV4Error, match="X-Amz-Signature"):
        verify_presigned_url(urlunsplit(parts._replace(query=urlencode(query))), secret_key=SECRET)


def test_verifier_rejects_an_expired_url() -> None:
    url = _presign(expires=60)
    granted = verify_presigned_url(url, secret_key=SECRET)
    just_before = granted.signed_at + timedelta(seconds=59)
    verify_presigned_url(url, secret_key=SECRET, now=just_before)
    with pytest.raises(URLExpired):
        verify_presigned_url(url, secret_key=SECRET, now=granted.signed_at + timedelta(seconds=60))


def test_verifier_rejects_a_url_used_long_before_it_was_signed() -> None:
    url = _presign()
    with pytest.raises(URLExpired):
        verify_presigned_url(url, secret_key=SECRET, now=datetime.now(UTC) - timedelta(hours=1))
