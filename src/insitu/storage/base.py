"""The provider boundary: what insitu needs from any object store, and nothing more.

A provider (``s3``, ``azure``, ``gcs``, ``local``) is one module exposing a ``Provider``; the
rest of insitu talks to stores only through these types, so adding a cloud is adding a module.
This package imports neither FastAPI nor the ORM; each provider imports its SDK lazily.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Protocol,
    TypeVar,
    get_args,
    runtime_checkable,
)

from pydantic import BaseModel, ConfigDict, SecretStr

from insitu.errors import InvalidConfiguration

if TYPE_CHECKING:
    from insitu.config import Settings
    from insitu.storage.cards import CardContext, SettingsCard


@dataclass(frozen=True, slots=True)
class Location:
    """A parsed storage URI: which provider, which bucket/container, which key or prefix.

    ``key`` is the raw object key (never URL-encoded); a prefix ends with ``/`` or is empty.
    ``account`` is set for providers whose buckets live inside an account (Azure). The
    canonical ``uri`` is what insitu stores and shows: ``s3://bucket/key``,
    ``az://account/container/key``, ``gs://bucket/key``, ``file:///abs/path``.
    """

    provider: str
    scheme: str
    bucket: str
    key: str = ""
    account: str | None = None

    @property
    def uri(self) -> str:
        account = f"{self.account}/" if self.account else ""
        return f"{self.scheme}://{account}{self.bucket}/{self.key}"

    @property
    def is_prefix(self) -> bool:
        return self.key == "" or self.key.endswith("/")

    def with_key(self, key: str) -> Location:
        """The same bucket, another key."""
        return Location(self.provider, self.scheme, self.bucket, key, self.account)


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a listing or HEAD tells about one object."""

    key: str
    size: int
    etag: str | None = None
    version: str | None = None
    last_modified: datetime | None = None
    # Server-side encryption as the store reports it, e.g. ("aws:kms", key ARN).
    encryption: str | None = None
    encryption_key: str | None = None
    # A digest of the content, when the store reports one (S3's single-part ETag, Azure's
    # Content-MD5, GCS's md5Hash): equal for copies of the same bytes, so a file moved within
    # a bucket is recognised as the same file. None when the store has no such digest.
    content_hash: str | None = None

    def holds(self, *, etag: str | None, content_hash: str | None, size: int | None) -> bool:
        """Whether this object still holds the bytes once seen with that ETag, digest and size.

        A matching digest is proof even when the ETag changed (a re-upload of the same bytes
        gets a new ETag on Azure and GCS); without digests, the ETag decides.
        """
        if size is not None and size != self.size:
            return False
        if content_hash and self.content_hash:
            return content_hash == self.content_hash
        return etag is not None and etag == self.etag

    @property
    def fingerprint(self) -> tuple[str | None, int]:
        """What identifies these bytes wherever they are: their digest (else ETag) and size."""
        return (self.content_hash or self.etag, self.size)


@dataclass(frozen=True, slots=True)
class ListPage:
    """One page of a listing; ``cursor`` resumes the listing right after this page.

    ``prefixes``: with a delimiter, the "folders" right under the prefix (each ending with the
    delimiter) that this page rolled up instead of listing their objects.
    """

    objects: list[ObjectInfo]
    cursor: str | None
    prefixes: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class SignedURL:
    """A read-only URL for one object, valid until ``expires_at`` (UTC)."""

    url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Check:
    """One step of access verification: what was tried, whether it worked, and the fix."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None


@dataclass(frozen=True, slots=True)
class CorsAdvice:
    """The CORS configuration a provider needs for the portal origins, and how to apply it."""

    provider: str
    rules: Any
    command: str


@dataclass(frozen=True)
class ProviderContext:
    """What a provider may know about the caller: the org, its connection, the settings."""

    settings: Settings
    org_id: str
    connection_id: str
    external_id: str
    extra: dict[str, Any] = field(default_factory=dict)
    # True when the platform operator (not just an org's key) asked, e.g. from the CLI.
    operator: bool = False
    # Non-public endpoints this org may name: the operator's INSITU_PRIVATE_ENDPOINTS plus
    # those granted to this org alone ('insitu org allow-endpoint').
    private_endpoints: tuple[str, ...] = ()


class ProviderConfig(BaseModel):
    """Base of every provider's connection settings; secrets are ``SecretStr`` fields."""

    model_config = ConfigDict(extra="forbid")

    # The settings that decide where the secrets are sent: when one of them changes, a secret
    # not given again is dropped, never kept, so stored keys do not follow a connection to
    # another server.
    secrets_follow: ClassVar[tuple[str, ...]] = ()

    def public(self) -> dict[str, Any]:
        """The settings safe to show: every secret field left out."""
        secret = self.secret_fields()
        return {
            name: value
            for name, value in self.model_dump(mode="json").items()
            if name not in secret
        }

    def stored_secrets(self) -> list[str]:
        """The names of the secret fields that hold a value, sorted: safe to show."""
        return sorted(name for name in self.secret_fields() if getattr(self, name) is not None)

    @classmethod
    def secret_fields(cls) -> frozenset[str]:
        """The names of the fields that hold secrets (``SecretStr``), set or not."""
        return frozenset(
            name
            for name, info in cls.model_fields.items()
            if info.annotation is SecretStr or SecretStr in get_args(info.annotation)
        )


ConfigT = TypeVar("ConfigT", bound=ProviderConfig)


def provider_config(config: ProviderConfig, model: type[ConfigT], provider: str) -> ConfigT:
    """``config`` as ``model``, or InvalidConfiguration for another provider's settings."""
    if isinstance(config, model):
        return config
    raise InvalidConfiguration(
        f"a connection with provider {provider!r} needs {model.__name__} settings, "
        f"not {type(config).__name__}",
        fix=f"create the connection with provider {provider!r}",
    )


def empty_range(start: int, end: int) -> bool:
    """Whether bytes ``[start, end)`` are none at all; ValueError if negative or reversed."""
    if start < 0 or end < start:
        raise ValueError(f"invalid range [{start}, {end})")
    return end == start


def no_heads() -> Future[dict[str, bytes]]:
    """``read_heads``'s answer from a store that reads each file on its own."""
    answered: Future[dict[str, bytes]] = Future()
    answered.set_result({})
    return answered


@runtime_checkable
class ObjectStore(Protocol):
    """Read-only access to one bucket/container of one connection."""

    # Whether a listing's cursor may be any string, not only one a page returned (S3's
    # StartAfter, GCS's startOffset): what lets an import list one big folder as key ranges.
    key_ranges: bool

    def list_pages(
        self,
        prefix: str,
        *,
        cursor: str | None = None,
        page_size: int = 1000,
        delimiter: str | None = None,
    ) -> Iterator[ListPage]:
        """Stream the objects under ``prefix`` a page at a time, in key order.

        With ``delimiter`` (``"/"``), only the objects right under ``prefix`` are listed and
        each deeper "folder" comes once in a page's ``prefixes`` instead: what lets a caller
        split a big source into parts listed apart. A page's cursor resumes after its last
        object or folder.
        """
        ...

    def head(self, key: str) -> ObjectInfo:
        """Facts about one object; raises ObjectNotFound when it is gone."""
        ...

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of one object (fewer at its end); never the whole file."""
        ...

    def read_heads(self, wants: Sequence[tuple[str, int]]) -> Future[dict[str, bytes]]:
        """The first ``length`` bytes of each ``(key, length)``, by key, where the store can
        read many objects' heads together more cheaply than one ``get_range`` each; sent now,
        answered later. Any it leaves out (all of them, for most stores: ``no_heads``) are
        read with ``get_range``, which says what failed."""
        ...

    def sign(self, key: str, *, ttl: timedelta) -> SignedURL:
        """A read-only GET URL for one object that expires after ``ttl``."""
        ...

    def close(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...


class Provider(Protocol):
    """One storage backend: parses its URIs, opens stores, verifies access, advises CORS."""

    name: ClassVar[str]
    schemes: ClassVar[tuple[str, ...]]
    config_model: ClassVar[type[ProviderConfig]]
    example_uri: ClassVar[str]
    # How people see the provider (the portal's Add Data steps); nothing branches on them.
    title: ClassVar[str]
    short_name: ClassVar[str]
    verify_label: ClassVar[str]
    path_help: ClassVar[str]
    # What the customer does in its cloud before an import works, one step per line.
    instructions: ClassVar[tuple[str, ...]]
    # Whether only the platform operator may create its connections (not an org's key).
    operator_only: ClassVar[bool]

    def offered(self, settings: Settings) -> bool:
        """Whether this server is set up for the provider at all."""
        ...

    def parse(self, uri: str) -> Location:
        """Parse one of this provider's URIs; raises InvalidLocation with an example."""
        ...

    def validate_config(self, config: ProviderConfig, context: ProviderContext) -> None:
        """Refuse settings this deployment cannot accept (raises InvalidConfiguration)."""
        ...

    def open(
        self, config: ProviderConfig, *, location: Location, context: ProviderContext
    ) -> ObjectStore:
        """A store for ``location``'s bucket, authenticated as the connection says."""
        ...

    def verify(
        self, config: ProviderConfig, *, location: Location, context: ProviderContext
    ) -> Sequence[Check]:
        """Every check that access works end to end, each with its fix when it fails."""
        ...

    def cors_advice(self, origins: Sequence[str]) -> CorsAdvice:
        """The bucket CORS rules allowing GET and HEAD from ``origins``."""
        ...

    def settings_card(self, context: CardContext) -> SettingsCard:
        """What the org's settings show for this provider: identities, inputs, documents."""
        ...

    def clear_cache(self) -> None:
        """Forget cached credentials and clients (rotated platform keys, tests)."""
        ...


# Storage events: what changed in a bucket, pushed by the store instead of found by listing.

CREATED, REMOVED = "created", "removed"


@dataclass(frozen=True, slots=True)
class StorageEvent:
    """One object created (or overwritten) or removed, as a store's notification tells it.

    ``key`` is the raw object key, decoded exactly from however the notification encodes it.
    ``sequencer`` orders the events of one key (a later event has a greater value when both
    are compared as strings; providers normalise theirs so that holds), or is None when the
    store sends none. ``receipt`` is opaque: what ``EventSource.acknowledge`` takes back; the
    events of one message share it.
    """

    bucket: str
    key: str
    kind: str  # CREATED | REMOVED
    receipt: str
    sequencer: str | None = None
    etag: str | None = None
    size: int | None = None
    account: str | None = None


@dataclass(frozen=True, slots=True)
class EventBatch:
    """What one receive brought: its events, and the receipt of every message received
    (a message carrying no event, such as a test message, is acknowledged all the same)."""

    events: list[StorageEvent]
    receipts: list[str]


@dataclass(frozen=True, slots=True)
class SetupDocument:
    """One document a customer applies so a bucket's events reach insitu, and how."""

    name: str
    description: str
    document: Any
    command: str


@runtime_checkable
class EventSource(Protocol):
    """A queue of one connection's storage events; delivery is at least once, in any order.

    Nothing is taken off the queue until ``acknowledge``: a consumer acknowledges a message
    only once what it says is committed, so a crash in between redelivers it.
    """

    queue: str

    def receive(self, *, wait_seconds: int, max_messages: int = 10) -> EventBatch:
        """The next messages, waiting up to ``wait_seconds`` for one (long polling)."""
        ...

    def acknowledge(self, receipts: Sequence[str]) -> None:
        """Take these messages off the queue for good."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class EventProvider(Protocol):
    """What a provider that delivers storage events adds to ``Provider``."""

    # How a connection names where its events arrive, said to whoever has not: a fix.
    events_setting: ClassVar[str]

    def event_queue(self, config: ProviderConfig) -> str | None:
        """The queue a connection's events arrive on (one consumer each), or None if none."""
        ...

    def open_events(self, config: ProviderConfig, *, context: ProviderContext) -> EventSource:
        """The connection's event queue, read with the connection's own identity."""
        ...

    def events_setup(
        self,
        config: ProviderConfig,
        *,
        location: Location,
        prefixes: Sequence[str],
        context: ProviderContext,
    ) -> list[SetupDocument]:
        """The exact documents and commands that send ``location``'s bucket events (under
        ``prefixes``) to the connection's queue and let insitu read it."""
        ...


def prefetched(pages: Iterator[ListPage]) -> Iterator[ListPage]:
    """``pages``, fetching the next listing page while the caller works on the current one."""
    with ThreadPoolExecutor(1) as lister:
        upcoming = lister.submit(next, pages, None)
        while (page := upcoming.result()) is not None:
            upcoming = lister.submit(next, pages, None)
            yield page
