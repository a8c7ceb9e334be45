"""The contract every storage provider passes (s3, azure, gcs and local run it).

A provider's test module subclasses ``ObjectStoreContract`` and defines these fixtures:

- ``store``: an ObjectStore over a bucket/container seeded with ``CONTRACT_OBJECTS``;
- ``key_base`` (optional, default ""): what the store's keys start with before the
  contract's own (a local directory's keys are absolute paths);
- ``fetch(url) -> httpx.Response``: GET a signed URL as a browser would (no credentials);
- ``verify_url(url) -> str``: check the URL's signature and expiry as the real service would
  (emulators that do not, e.g. moto, need a verifier) and return the key it grants; raise
  AssertionError when the real service would refuse it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from insitu.errors import InvalidInput, ObjectNotFound
from insitu.imports.key_ranges import up_to
from insitu.storage.base import ObjectStore

PAGE_PREFIX = "contract/page/"
PAGE_KEYS = [f"{PAGE_PREFIX}{i:03d}.bin" for i in range(12)]
DATA_KEY = "contract/data.bin"
DATA = bytes(i % 251 for i in range(1000))
ODD_PREFIX = "contract/odd/"
ODD_KEYS = [
    f"{ODD_PREFIX}with space.txt",
    f"{ODD_PREFIX}ünïcødé ✓ 日本.txt",
    f"{ODD_PREFIX}a+b.txt",
    f"{ODD_PREFIX}100%.txt",
    f"{ODD_PREFIX}%20literal.txt",
    f"{ODD_PREFIX}what?x=1&y=2.txt",
    f"{ODD_PREFIX}hash#frag.txt",
]
TWIN_PREFIX = "contract/twin/"
TWIN = b"the same bytes under two names"
CONTRACT_OBJECTS: dict[str, bytes] = {
    **{key: key.encode() * 3 for key in PAGE_KEYS},
    "contract/pagex.bin": b"not under contract/page/",
    "contract/other/x.bin": b"another prefix",
    DATA_KEY: DATA,
    **{key: f"content of {key}".encode() for key in ODD_KEYS},
    f"{TWIN_PREFIX}a.bin": TWIN,
    f"{TWIN_PREFIX}b.bin": TWIN,
    f"{TWIN_PREFIX}c.bin": TWIN.upper(),  # as long, other bytes
}
TTL = timedelta(minutes=5)

Fetch = Callable[[str], httpx.Response]
VerifyURL = Callable[[str], str]


def _keys(store: ObjectStore, prefix: str, **kwargs: object) -> list[str]:
    return [obj.key for page in store.list_pages(prefix, **kwargs) for obj in page.objects]  # type: ignore[arg-type]


def _based(key_base: str, keys: list[str]) -> list[str]:
    return [key_base + key for key in keys]


def _accepted(url: str, fetch: Fetch, verify_url: VerifyURL) -> bool:
    """Whether the real service would serve ``url``."""
    try:
        verify_url(url)
    except AssertionError:
        return False
    return fetch(url).status_code in (200, 206)


class ObjectStoreContract:
    """Behaviour insitu relies on from every ObjectStore."""

    # Whether the store reports a digest of each object's content (a directory has none).
    reports_content_hash = True

    def test_lists_odd_keys_in_code_point_order(self, store: ObjectStore, key_base: str) -> None:
        # A reconcile merges a listing with the assets sorted byte by byte: the orders must agree.
        keys = _keys(store, key_base + ODD_PREFIX)
        assert keys == sorted(_based(key_base, ODD_KEYS))

    def test_copies_of_the_same_bytes_share_a_content_hash(
        self, store: ObjectStore, key_base: str
    ) -> None:
        listed = {
            obj.key.rsplit("/", 1)[-1]: obj
            for page in store.list_pages(key_base + TWIN_PREFIX)
            for obj in page.objects
        }
        a, b, c = listed["a.bin"], listed["b.bin"], listed["c.bin"]
        if not self.reports_content_hash:
            assert (a.content_hash, b.content_hash, c.content_hash) == (None, None, None)
            return
        assert a.content_hash and a.content_hash == b.content_hash != c.content_hash
        assert a.fingerprint == b.fingerprint != c.fingerprint
        assert store.head(a.key).content_hash == a.content_hash

    def test_lists_pages_in_key_order_with_a_small_page_size(
        self, store: ObjectStore, key_base: str
    ) -> None:
        pages = list(store.list_pages(key_base + PAGE_PREFIX, page_size=5))
        assert [len(page.objects) for page in pages] == [5, 5, 2]
        assert [obj.key for page in pages for obj in page.objects] == _based(key_base, PAGE_KEYS)
        assert all(page.cursor for page in pages[:-1])
        assert pages[-1].cursor is None

    def test_resumes_listing_from_a_page_cursor(self, store: ObjectStore, key_base: str) -> None:
        first = next(iter(store.list_pages(key_base + PAGE_PREFIX, page_size=5)))
        assert first.cursor is not None
        resumed = _keys(store, key_base + PAGE_PREFIX, cursor=first.cursor, page_size=5)
        assert resumed == _based(key_base, PAGE_KEYS[5:])

    def test_a_delimited_listing_gives_the_files_and_each_folder_once(
        self, store: ObjectStore, key_base: str
    ) -> None:
        """What an import splits a big source by: resumed from every page's cursor (a file
        or a folder), the listing goes on after it, never repeating nor skipping anything."""
        prefix = key_base + "contract/"
        files = _based(key_base, ["contract/data.bin", "contract/pagex.bin"])
        folders = _based(
            key_base, [f"contract/{name}/" for name in ("odd", "other", "page", "twin")]
        )
        whole = list(store.list_pages(prefix, delimiter="/"))
        assert [obj.key for page in whole for obj in page.objects] == files
        assert [folder for page in whole for folder in page.prefixes] == folders
        seen: list[str] = []
        cursor = None
        while True:  # one page at a time, each from a new listing, as a resumed lister does
            page = next(iter(store.list_pages(prefix, cursor=cursor, page_size=2, delimiter="/")))
            seen += [obj.key for obj in page.objects] + list(page.prefixes)
            if page.cursor is None:
                break
            cursor = page.cursor
        assert sorted(seen) == sorted(files + folders) and len(seen) == len(set(seen))

    def test_prefix_listing_excludes_other_prefixes(
        self, store: ObjectStore, key_base: str
    ) -> None:
        assert _keys(store, key_base + PAGE_PREFIX) == _based(key_base, PAGE_KEYS)
        assert key_base + "contract/pagex.bin" in _keys(store, key_base + "contract/")

    def test_listing_reports_sizes(self, store: ObjectStore, key_base: str) -> None:
        listing = store.list_pages(key_base + "contract/")
        sizes = {obj.key: obj.size for page in listing for obj in page.objects}
        assert sizes == {key_base + key: len(data) for key, data in CONTRACT_OBJECTS.items()}

    def test_head_reports_size_and_unquoted_etag(self, store: ObjectStore, key_base: str) -> None:
        info = store.head(key_base + DATA_KEY)
        listed = next(o for p in store.list_pages(key_base + "contract/d") for o in p.objects)
        assert (info.key, info.size) == (key_base + DATA_KEY, len(DATA))
        assert info.etag and '"' not in info.etag
        assert info.etag == listed.etag

    def test_head_of_a_missing_key_raises_object_not_found(
        self, store: ObjectStore, key_base: str
    ) -> None:
        with pytest.raises(ObjectNotFound) as caught:
            store.head(key_base + "contract/missing.bin")
        assert isinstance(caught.value, FileNotFoundError)
        assert "contract/missing.bin" in caught.value.detail
        assert caught.value.fix

    @pytest.mark.parametrize("prefix", ["contract/page", "contract/page/"])
    def test_a_prefix_is_no_object(self, store: ObjectStore, key_base: str, prefix: str) -> None:
        """What holds objects (a directory, a "folder") is not itself one to head or read."""
        with pytest.raises(ObjectNotFound) as caught:
            store.head(key_base + prefix)
        assert caught.value.fix
        with pytest.raises(ObjectNotFound):
            store.get_range(key_base + prefix, 0, 10)

    def test_an_over_long_name_is_an_error_with_a_fix(
        self, store: ObjectStore, key_base: str
    ) -> None:
        """A name longer than the store allows: not found, or refused as input; never a crash."""
        key = key_base + "contract/" + "n" * 300 + ".bin"
        for call in (lambda: store.head(key), lambda: store.get_range(key, 0, 10)):
            with pytest.raises((ObjectNotFound, InvalidInput)) as caught:
                call()
            assert caught.value.fix

    @pytest.mark.parametrize(
        ("start", "end", "expected"),
        [(0, 10, DATA[:10]), (500, 510, DATA[500:510]), (995, 1010, DATA[995:]), (1000, 1010, b"")],
        ids=["start", "middle", "across-end", "past-end"],
    )
    def test_reads_byte_ranges(
        self, store: ObjectStore, key_base: str, start: int, end: int, expected: bytes
    ) -> None:
        assert store.get_range(key_base + DATA_KEY, start, end) == expected

    def test_ranged_read_of_a_missing_key_raises_object_not_found(
        self, store: ObjectStore, key_base: str
    ) -> None:
        with pytest.raises(ObjectNotFound):
            store.get_range(key_base + "contract/missing.bin", 0, 10)

    def test_reads_concurrently_from_threads(self, store: ObjectStore, key_base: str) -> None:
        with ThreadPoolExecutor(8) as pool:
            keys = _based(key_base, PAGE_KEYS * 2)
            results = list(pool.map(lambda key: store.get_range(key, 0, 4), keys))
        assert results == [CONTRACT_OBJECTS[key][:4] for key in PAGE_KEYS * 2]

    def test_signed_url_fetches_exactly_the_object(
        self, store: ObjectStore, key_base: str, fetch: Fetch, verify_url: VerifyURL
    ) -> None:
        before = datetime.now(UTC)
        signed = store.sign(key_base + DATA_KEY, ttl=TTL)
        assert verify_url(signed.url) == key_base + DATA_KEY
        response = fetch(signed.url)
        assert response.status_code == 200
        assert response.content == DATA
        assert signed.expires_at.tzinfo is not None
        assert (
            before + TTL - timedelta(seconds=5)
            <= signed.expires_at
            <= before + TTL + timedelta(seconds=5)
        )

    def test_signed_url_grants_no_other_object(
        self, store: ObjectStore, key_base: str, fetch: Fetch, verify_url: VerifyURL
    ) -> None:
        url = store.sign(key_base + PAGE_KEYS[0], ttl=TTL).url
        forged = url.replace("000.bin", "001.bin", 1)
        assert forged != url
        assert _accepted(url, fetch, verify_url)
        assert not _accepted(forged, fetch, verify_url)

    @pytest.mark.parametrize("key", ODD_KEYS)
    def test_odd_keys_round_trip_from_listing_to_signed_url(
        self, store: ObjectStore, key_base: str, fetch: Fetch, verify_url: VerifyURL, key: str
    ) -> None:
        data = CONTRACT_OBJECTS[key]
        key = key_base + key
        assert key in _keys(store, key_base + ODD_PREFIX, page_size=3)
        assert store.head(key).size == len(data)
        assert store.get_range(key, 0, 1000) == data
        signed = store.sign(key, ttl=TTL)
        assert verify_url(signed.url) == key
        response = fetch(signed.url)
        assert (response.status_code, response.content) == (200, data)


class KeyRangeContract:
    """What stores with ``key_ranges`` add: a listing may start after any string, which is how
    an import lists one big folder as several key ranges at once."""

    def test_a_listing_goes_on_right_after_any_string(
        self, store: ObjectStore, key_base: str
    ) -> None:
        assert store.key_ranges
        between = key_base + PAGE_PREFIX + "004x"  # after 004.bin, before 005.bin: no key
        listed = _keys(store, key_base + PAGE_PREFIX, cursor=between, page_size=3)
        assert listed == _based(key_base, PAGE_KEYS[5:])

    def test_a_folder_is_listed_by_the_range_its_name_falls_in(
        self, store: ObjectStore, key_base: str
    ) -> None:
        """A range starting inside a folder leaves that folder to the range before it."""
        prefix = key_base + "contract/"
        pages = store.list_pages(prefix, cursor=prefix + "page/005", delimiter="/")
        files = [obj.key for page in pages for obj in page.objects]
        pages = store.list_pages(prefix, cursor=prefix + "page/005", delimiter="/")
        folders = [folder for page in pages for folder in page.prefixes]
        assert files == [prefix + "pagex.bin"]
        assert folders == [prefix + "twin/"]

    def test_ranges_cut_anywhere_list_every_key_once(
        self, store: ObjectStore, key_base: str
    ) -> None:
        prefix = key_base + PAGE_PREFIX
        cuts = [prefix + "003.bin", prefix + "007", prefix + "0075", prefix + "zzz"]
        listed: list[str] = []
        for after, last in zip([None, *cuts], [*cuts, None], strict=True):
            pages = store.list_pages(prefix, cursor=after, page_size=2)
            listed += [obj.key for page in up_to(pages, last) for obj in page.objects]
        assert listed == _based(key_base, PAGE_KEYS)
