"""``S3ObjectStore``: read-only list, HEAD, ranged GET and presigned URLs on one bucket."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import obstore

from insitu.storage.base import ListPage, ObjectInfo, SignedURL, empty_range, no_heads
from insitu.storage.registry import has_dot_segment, plain_key
from insitu.storage.s3.errors import SDK_ERRORS, Where, code_of, map_error
from insitu.storage.s3.identity import Identity
from insitu.storage.throttle import Throttle


def _obstore_can_address(key: str) -> bool:
    """Whether obstore's path rules keep ``key`` exactly (else boto3 serves it): printable,
    and no empty, ``.`` or ``..`` segment."""
    if not key or key[0] == "/" or key[-1] == "/" or not key.isprintable():
        return False
    return "//" not in key and not has_dot_segment(key)


def _content_hash(etag: str | None) -> str | None:
    """The MD5 a single-part upload's ETag is; a multipart ETag ("...-N") is not a digest."""
    value = (etag or "").strip('"')
    return f"md5:{value}" if len(value) == 32 and "-" not in value else None


class S3ObjectStore:
    """Read-only access to one bucket; thread-safe; clients are shared per identity."""

    key_ranges = True

    def __init__(self, identity: Identity, bucket: str, throttle: Throttle | None = None) -> None:
        self.identity = identity
        self.bucket = bucket
        self.throttle = throttle or Throttle(256)
        self._store: Any = None

    def _where(self, key: str | None = None) -> Where:
        return Where(self.identity, self.bucket, key)

    def list_pages(
        self,
        prefix: str,
        *,
        cursor: str | None = None,
        page_size: int = 1000,
        delimiter: str | None = None,
    ) -> Iterator[ListPage]:
        """ListObjectsV2 pages in key order; the cursor is the page's last key (StartAfter).

        With a delimiter, the cursor may be a common prefix: S3 starts after all of its keys.
        Folder placeholders (empty objects whose key ends in ``/``) are not files: left out.
        """
        client = self.identity.client("s3")
        after = cursor
        while True:
            args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": page_size}
            if after:
                args["StartAfter"] = after
            if delimiter:
                args["Delimiter"] = delimiter
            what = f"listing {self._where(prefix).uri}"
            response = self.throttle.call(self._list, client, args, what, what=what)
            contents = response.get("Contents", [])
            objects = [
                ObjectInfo(
                    key=item["Key"],
                    size=item["Size"],
                    etag=item.get("ETag", "").strip('"') or None,
                    content_hash=_content_hash(item.get("ETag")),
                    last_modified=item.get("LastModified"),
                )
                for item in contents
                if not (item["Key"].endswith("/") and item["Size"] == 0)
            ]
            folders = [
                entry["Prefix"]
                for entry in response.get("CommonPrefixes", [])
                if after is None or entry["Prefix"] > after
            ]
            last = max([*(item["Key"] for item in contents[-1:]), *folders[-1:]], default=None)
            more = bool(response.get("IsTruncated")) and last is not None
            if last is not None:
                after = last
            yield ListPage(objects, after if more else None, folders)
            if not more:
                return

    def _list(self, client: Any, args: dict[str, Any], what: str) -> dict[str, Any]:
        try:
            response: dict[str, Any] = client.list_objects_v2(**args)
        except SDK_ERRORS as exc:
            raise map_error(exc, what, self._where()) from exc
        return response

    def head(self, key: str) -> ObjectInfo:
        """HEAD one object: size, ETag (unquoted), version, SSE algorithm and KMS key."""
        what = f"HEAD {self._where(key).uri}"
        response = self.throttle.call(self._head, key, what, what=what)
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            etag=response.get("ETag", "").strip('"') or None,
            content_hash=_content_hash(response.get("ETag")),
            version=response.get("VersionId"),
            last_modified=response.get("LastModified"),
            encryption=response.get("ServerSideEncryption"),
            encryption_key=response.get("SSEKMSKeyId"),
        )

    def _head(self, key: str, what: str) -> dict[str, Any]:
        try:
            response: dict[str, Any] = self.identity.client("s3").head_object(
                Bucket=self.bucket, Key=key
            )
        except SDK_ERRORS as exc:
            raise map_error(exc, what, self._where(key)) from exc
        return response

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``: fewer at the object's end, none past it."""
        if empty_range(start, end):
            return b""
        return self.throttle.call(
            self._get_range,
            key,
            start,
            end,
            what=lambda: f"ranged GET bytes={start}-{end - 1} of s3://{self.bucket}/{key}",
        )

    def _get_range(self, key: str, start: int, end: int) -> bytes:
        try:
            # obstore follows redirects to any host, so a customer's endpoint gets boto3 only.
            if self.identity.uses_obstore and _obstore_can_address(key):
                self.identity.frozen_credentials()  # STS errors surface here, not inside obstore
                return bytes(obstore.get_range(self._obstore(), key, start=start, end=end))
            response = self.identity.client("s3").get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}"
            )
            data: bytes = response["Body"].read()
            return data
        except SDK_ERRORS as exc:
            if code_of(exc)[0] in ("InvalidRange", "416"):
                return b""
            what = f"ranged GET bytes={start}-{end - 1} of {self._where(key).uri}"
            raise map_error(exc, what, self._where(key)) from exc

    def read_heads(self, wants: Sequence[tuple[str, int]]) -> Future[dict[str, bytes]]:
        """The first ``length`` bytes of each ``(key, length)``, sent together from one thread
        (``heads``); keys it cannot read that way, or that failed, are left out."""
        # Only keys a URL path holds unescaped: the path libcurl signs is then exactly the key
        # S3 resolves. The others (spaces, "+", non-ASCII) are read the ordinary way.
        plain = [
            (key, length)
            for key, length in wants
            if length > 0 and plain_key(key) and _obstore_can_address(key)
        ]
        reader = self.identity.heads
        if not plain or reader is None:
            return no_heads()
        try:
            credentials = self.identity.frozen_credentials()
        except SDK_ERRORS:
            return no_heads()  # each file's own read says what is wrong
        return reader.submit(self.bucket, plain, credentials, self.throttle)

    def _obstore(self) -> Any:
        """The identity's obstore client for this bucket, looked up once per store."""
        store = self._store
        if store is None:
            store = self._store = self.identity.store(self.bucket)
        return store

    def sign(self, key: str, *, ttl: timedelta) -> SignedURL:
        """A presigned GET for exactly ``key``; expires after ``ttl`` or with the role session."""
        seconds = max(1, int(ttl.total_seconds()))
        now = datetime.now(UTC)
        try:
            if _obstore_can_address(key):  # signing is local: obstore sends nothing here
                self.identity.frozen_credentials()
                url = obstore.sign(
                    self.identity.store(self.bucket), "GET", key, timedelta(seconds=seconds)
                )
                credentials_expire = self.identity.obstore_expiry
            else:
                url = self.identity.client("s3").generate_presigned_url(
                    "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
                )
                credentials_expire = self.identity.roles[-1].expiry if self.identity.roles else None
        except SDK_ERRORS as exc:
            raise map_error(
                exc, f"signing a URL for {self._where(key).uri}", self._where(key)
            ) from exc
        expires_at = now + timedelta(seconds=seconds)
        if credentials_expire is not None:
            expires_at = min(expires_at, credentials_expire)
        return SignedURL(url, expires_at)

    def close(self) -> None:
        """Nothing to release: connections are pooled per identity for the process."""
