"""The Assets tab's Content-Security-Policy names exactly the origins of the URLs it shows."""

from __future__ import annotations

from insitu.portal.csp import media_origins, policy_for_media


def test_media_origins_are_the_distinct_origins_of_the_urls_without_credentials() -> None:
    urls = [
        "https://Bucket.s3.eu-west-1.amazonaws.com/a.png?X-Amz-Signature=1",
        "https://bucket.s3.eu-west-1.amazonaws.com/b.png",
        "http://127.0.0.1:9000/minio/c.png",
        "https://user:secret@account.blob.core.windows.net/c/d.png",
    ]
    assert media_origins(urls) == [
        "http://127.0.0.1:9000",
        "https://account.blob.core.windows.net",
        "https://bucket.s3.eu-west-1.amazonaws.com",
    ]


def test_an_origin_that_could_change_the_policy_is_never_written_into_it() -> None:
    urls = ["javascript:alert(1)", "data:image/png;base64,AAAA", "https://a.test;script-src/x"]
    assert media_origins(urls) == []
    policy = policy_for_media(media_origins(urls))
    assert "img-src 'self' data:;" in policy and "media-src 'self';" in policy
    assert "*" not in policy


def test_the_policy_adds_the_origins_to_images_and_media_only() -> None:
    policy = policy_for_media(["https://bucket.storage.googleapis.com"])
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["img-src"] == "'self' data: https://bucket.storage.googleapis.com"
    assert directives["media-src"] == "'self' https://bucket.storage.googleapis.com"
    assert directives["script-src"] == "'self'"
