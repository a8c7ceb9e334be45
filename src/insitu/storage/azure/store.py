"""AzureStore: read-only list, properties, ranged reads and user-delegation SAS."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from azure.core.paging import ItemPaged
from azure.storage.blob import BlobPrefix, BlobProperties, BlobSasPermissions, generate_blob_sas

from insitu.storage.azure.errors import SDK_ERRORS, Where, code_of, map_error
from insitu.storage.azure.identity import Identity
from insitu.storage.base import ListPage, ObjectInfo, SignedURL, empty_range, no_heads
from insitu.storage.throttle import Throttle


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


def _content_hash(blob: BlobProperties) -> str | None:
    """The blob's Content-MD5 (set by uploads that send it; an Azure ETag is no digest)."""
    md5 = blob.content_settings.content_md5 if blob.content_settings else None
    return f"md5:{bytes(md5).hex()}" if md5 else None


class AzureStore:
    """Read-only access to one container; thread-safe; the client is shared per identity."""

    # Azure's continuation marker is opaque: a listing resumes only where a page ended.
    key_ranges = False

    def __init__(
        self, identity: Identity, container: str, throttle: Throttle | None = None
    ) -> None:
        self.identity = identity
        self.container = container
        self.throttle = throttle or Throttle(256)
        self._client = identity.service.get_container_client(container)

    def _where(self, key: str | None = None) -> Where:
        return Where(self.identity, self.container, key)

    def list_pages(
        self,
        prefix: str,
        *,
        cursor: str | None = None,
        page_size: int = 1000,
        delimiter: str | None = None,
    ) -> Iterator[ListPage]:
        """List Blobs pages in name order; the cursor is Azure's continuation marker.

        With a delimiter, "virtual directories" come back as prefixes (``walk_blobs``).
        Folder placeholders (empty blobs whose name ends in ``/``) are not files: left out.
        """
        what = f"listing {self._where(prefix).uri}"
        token = cursor
        while True:
            entries, token = self.throttle.call(
                self._list_page, prefix, token, page_size, delimiter, what, what=what
            )
            folders = [entry.name for entry in entries if isinstance(entry, BlobPrefix)]
            blobs = [entry for entry in entries if not isinstance(entry, BlobPrefix)]
            objects = [
                ObjectInfo(
                    key=blob.name,
                    size=blob.size,
                    etag=_etag(blob.etag),
                    version=blob.version_id,
                    last_modified=blob.last_modified,
                    content_hash=_content_hash(blob),
                )
                for blob in blobs
                if not (blob.name.endswith("/") and blob.size == 0)
            ]
            yield ListPage(objects, token, folders)
            if token is None:
                return

    def _list_page(
        self, prefix: str, token: str | None, page_size: int, delimiter: str | None, what: str
    ) -> tuple[list[BlobProperties | BlobPrefix], str | None]:
        """One page from ``token`` (a fresh pager each time, so a retry asks for the same page)
        and the token of the next, if any."""
        try:
            listing: ItemPaged[BlobProperties | BlobPrefix] | ItemPaged[BlobProperties]
            if delimiter:
                listing = self._client.walk_blobs(
                    name_starts_with=prefix or None,
                    delimiter=delimiter,
                    results_per_page=page_size,
                )
            else:
                listing = self._client.list_blobs(
                    name_starts_with=prefix or None, results_per_page=page_size
                )
            pages = listing.by_page(continuation_token=token)
            page = next(pages, None)
            entries = list(page) if page is not None else []
        except SDK_ERRORS as exc:
            raise map_error(exc, what, self._where()) from exc
        return entries, getattr(pages, "continuation_token", None) or None

    def head(self, key: str) -> ObjectInfo:
        """Blob properties: size, ETag (unquoted), version, customer-provided-key encryption."""
        what = f"HEAD {self._where(key).uri}"
        props = self.throttle.call(self._properties, key, what, what=what)
        cpk = props.encryption_key_sha256
        return ObjectInfo(
            key=key,
            size=props.size,
            etag=_etag(props.etag),
            content_hash=_content_hash(props),
            version=props.version_id,
            last_modified=props.last_modified,
            encryption="customer-provided-key" if cpk else props.encryption_scope,
            encryption_key=cpk,
        )

    def read_heads(self, wants: Sequence[tuple[str, int]]) -> Future[dict[str, bytes]]:
        return no_heads()  # each file is read on its own

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``: fewer at the blob's end, none past it."""
        if empty_range(start, end):
            return b""
        what = f"ranged GET bytes={start}-{end - 1} of {self._where(key).uri}"
        return self.throttle.call(self._get_range, key, start, end, what, what=what)

    def _properties(self, key: str, what: str) -> BlobProperties:
        try:
            return self._client.get_blob_client(key).get_blob_properties()
        except SDK_ERRORS as exc:
            raise map_error(exc, what, self._where(key)) from exc

    def _get_range(self, key: str, start: int, end: int, what: str) -> bytes:
        try:
            downloader = self._client.get_blob_client(key).download_blob(
                offset=start, length=end - start, max_concurrency=1
            )
            return downloader.readall()
        except SDK_ERRORS as exc:
            if code_of(exc) == "InvalidRange":
                return b""
            raise map_error(exc, what, self._where(key)) from exc

    def sign(self, key: str, *, ttl: timedelta) -> SignedURL:
        """A user-delegation SAS URL: read permission on exactly ``key``, until ``ttl``."""
        now = datetime.now(UTC).replace(microsecond=0)
        wanted = now + timedelta(seconds=max(1, int(ttl.total_seconds())))
        delegation_key, key_expiry = self.identity.delegation_key(wanted)
        expires_at = min(wanted, key_expiry)
        account_url = self.identity.config.account_url
        # Signing is local computation: no Azure error can come of it, only a bug.
        sas = generate_blob_sas(
            self.identity.account,
            self.container,
            key,
            user_delegation_key=delegation_key,
            permission=BlobSasPermissions(read=True),
            expiry=expires_at,
            protocol="https",
        )
        url = f"{account_url}/{self.container}/{quote(key, safe='/~')}?{sas}"
        return SignedURL(url, expires_at)

    def close(self) -> None:
        """Nothing to release: the client is pooled per identity for the process."""
