"""``GcsObjectStore``: read-only list, metadata, ranged GET and V4 signed URLs on one bucket.

It also reads the bucket's IAM permissions and CORS entries, for verify.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as api_errors
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from insitu.errors import InsituError
from insitu.storage.base import ListPage, ObjectInfo, SignedURL, empty_range, no_heads
from insitu.storage.gcs.errors import SDK_ERRORS, map_error
from insitu.storage.gcs.identity import TIMEOUT, Identity
from insitu.storage.throttle import Throttle

# The SDK retries transient errors for up to 120 s by default; a verify should report an
# unreachable store well before that.
_RETRY = DEFAULT_RETRY.with_timeout(20.0)
# Data-plane reads (list, metadata, ranged GET) retry only briefly in the SDK: throttling
# (429 rateLimitExceeded, 503 backendError, 5xx) reaches storage.throttle, which slows every
# request to the bucket down and backs off, instead of each thread retrying alone.
_READ_RETRY = DEFAULT_RETRY.with_delay(initial=0.05, maximum=0.2).with_timeout(0.5)
_LIST_FIELDS = "items(name,size,etag,md5Hash,generation,updated),prefixes,nextPageToken"


class GcsObjectStore:
    """Read-only access to one bucket; thread-safe; the SDK client is shared per identity."""

    key_ranges = True

    def __init__(
        self,
        identity: Identity,
        bucket: str,
        user_project: str | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.identity = identity
        self.bucket_name = bucket
        self.user_project = user_project
        self.throttle = throttle or Throttle(256)
        self._bucket: storage.Bucket | None = None

    @property
    def bucket(self) -> storage.Bucket:
        """The SDK's bucket handle, made on first use (credentials load lazily too)."""
        if self._bucket is None:
            client = self.identity.client()
            self._bucket = client.bucket(self.bucket_name, user_project=self.user_project)
        return self._bucket

    def list_pages(
        self,
        prefix: str,
        *,
        cursor: str | None = None,
        page_size: int = 1000,
        delimiter: str | None = None,
    ) -> Iterator[ListPage]:
        """Object pages in name order; the cursor is the page's last name (``startOffset``).

        With a delimiter, the cursor may be a folder prefix: listing again from it (inclusive)
        rolls its objects up into that prefix once more, which is left out.
        Folder placeholders (empty objects whose name ends in ``/``) are not files: left out.
        """
        what = f"listing gs://{self.bucket_name}/{prefix}"
        token: str | None = None
        while True:
            page, token = self.throttle.call(
                self._list_page, prefix, cursor, token, page_size, delimiter, what, what=what
            )
            if page is None:
                return
            blobs = list(page)
            folders = sorted(getattr(page, "prefixes", ()) or ())
            # startOffset is inclusive: the cursor's own object was on the page before.
            if cursor is not None:
                blobs = [blob for blob in blobs if blob.name > cursor]
                folders = [folder for folder in folders if folder > cursor]
            objects = [
                _info(blob) for blob in blobs if not (blob.name.endswith("/") and not blob.size)
            ]
            more = token is not None
            last = max([*(blob.name for blob in blobs[-1:]), *folders[-1:]], default=cursor)
            yield ListPage(objects, last if more else None, folders)
            if not more:
                return

    def _list_page(
        self,
        prefix: str,
        cursor: str | None,
        token: str | None,
        page_size: int,
        delimiter: str | None,
        what: str,
    ) -> tuple[Any, str | None]:
        """One page (``None`` past the last) and the token of the next; a fresh iterator each
        time, as one that raised is spent, so a retry asks for the same page again."""
        try:
            iterator = self.identity.client().list_blobs(
                self.bucket,
                prefix=prefix or None,
                page_size=page_size,
                start_offset=cursor or None,
                delimiter=delimiter or None,
                page_token=token,
                fields=_LIST_FIELDS,
                timeout=TIMEOUT,
                retry=_READ_RETRY,
            )
            page = next(iterator.pages, None)
        except SDK_ERRORS as exc:
            raise map_error(exc, what, self.identity, self.bucket_name, on="bucket") from exc
        return page, iterator.next_page_token

    def head(self, key: str) -> ObjectInfo:
        """Object metadata: size, ETag, generation (as version), CMEK key."""
        what = f"getting gs://{self.bucket_name}/{key}"
        return self.throttle.call(self._head, key, what, what=what)

    def _head(self, key: str, what: str) -> ObjectInfo:
        try:
            blob = self.bucket.get_blob(key, timeout=TIMEOUT, retry=_READ_RETRY)
        except SDK_ERRORS as exc:
            raise self._error(exc, what, key) from exc
        if blob is None:
            raise self._error(api_errors.NotFound("No such object"), what, key)
        return _info(blob)

    def read_heads(self, wants: Sequence[tuple[str, int]]) -> Future[dict[str, bytes]]:
        return no_heads()  # each file is read on its own

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``: fewer at the object's end, none past it."""
        if empty_range(start, end):
            return b""
        what = f"ranged GET bytes={start}-{end - 1} of gs://{self.bucket_name}/{key}"
        return self.throttle.call(self._get_range, key, start, end, what, what=what)

    def _get_range(self, key: str, start: int, end: int, what: str) -> bytes:
        try:
            # end is inclusive in this API; raw: stored bytes, so a Range is always honoured.
            data: bytes = self.bucket.blob(key).download_as_bytes(
                start=start,
                end=end - 1,
                raw_download=True,
                checksum=None,
                timeout=TIMEOUT,
                retry=_READ_RETRY,
            )
        except api_errors.RequestRangeNotSatisfiable:
            return b""
        except SDK_ERRORS as exc:
            raise self._error(exc, what, key) from exc
        return data

    def sign(self, key: str, *, ttl: timedelta) -> SignedURL:
        """A V4 signed GET for exactly ``key``, as the service account, for ``ttl``."""
        seconds = max(1, int(ttl.total_seconds()))
        now = datetime.now(UTC).replace(microsecond=0)
        try:
            url = self.bucket.blob(key).generate_signed_url(
                version="v4",
                expiration=timedelta(seconds=seconds),
                method="GET",
                credentials=self.identity.signer(),
                api_access_endpoint=self.identity.endpoint,
            )
        except SDK_ERRORS as exc:
            raise self._error(exc, f"signing a URL for gs://{self.bucket_name}/{key}", key) from exc
        return SignedURL(url, now + timedelta(seconds=seconds))

    def close(self) -> None:
        """Nothing to release: the client is pooled per identity for the process."""

    # control plane, for verify

    def test_permissions(self, permissions: Sequence[str]) -> list[str]:
        try:
            granted: list[str] = self.bucket.test_iam_permissions(
                list(permissions), timeout=TIMEOUT, retry=_RETRY
            )
        except SDK_ERRORS as exc:
            what = f"testIamPermissions on gs://{self.bucket_name}"
            raise map_error(exc, what, self.identity, self.bucket_name, on="bucket") from exc
        return granted

    def cors(self) -> list[dict[str, Any]]:
        try:
            self.bucket.reload(timeout=TIMEOUT, retry=_RETRY)
        except SDK_ERRORS as exc:
            what = f"reading the CORS configuration of gs://{self.bucket_name}"
            raise map_error(exc, what, self.identity, self.bucket_name, on="bucket") from exc
        return list(self.bucket.cors or [])

    def _error(self, exc: Exception, what: str, key: str | None) -> InsituError:
        return map_error(exc, what, self.identity, self.bucket_name, key)


def _info(blob: storage.Blob) -> ObjectInfo:
    return ObjectInfo(
        key=blob.name,
        size=int(blob.size or 0),
        etag=blob.etag,
        # md5Hash is base64; composite objects have none (their crc32c is no digest to trust).
        content_hash=f"md5:{base64.b64decode(blob.md5_hash).hex()}" if blob.md5_hash else None,
        version=str(blob.generation) if blob.generation is not None else None,
        last_modified=blob.updated,
        encryption="cloud-kms" if blob.kms_key_name else None,
        encryption_key=blob.kms_key_name,
    )
