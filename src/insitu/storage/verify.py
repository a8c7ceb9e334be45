"""Verify steps every provider reuses: list, HEAD, ranged read, signed URL fetch, CORS.

A provider's ``verify`` strings these together with its own steps (assume a role, check a KMS
key, read the bucket's CORS) through ``Steps``::

    steps = Steps()
    steps.add(*check_identity(identity))  # the provider's own first step
    info = sample_object(steps, store, location.key, fix=grant_fix)  # list, then HEAD
    read_and_sign(steps, store, info, ttl=timedelta(minutes=1), signed_url_fix=region_fix)
    steps.run_anyway(lambda: check_cors(...))  # does not depend on the objects
    return steps.checks

Each step returns a ``Check(name, ok, detail, fix)``. A failure's ``fix`` is the one the caller
passes (the exact policy or command for its provider), else the fix carried by the InsituError
the store raised. **Dependent steps are never silently dropped**: once a step fails, ``Steps``
records every later step the caller asks for as ``ok=False`` with detail ``"skipped: ..."`` naming
the step that blocked it, so the user sees the whole list and fixes the first failure first.
Steps that do not depend on the failed one (CORS reads the bucket configuration, not objects)
are run with ``Steps.run_anyway``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

import httpx

from insitu.errors import InsituError, InvalidConfiguration
from insitu.storage.base import Check, ObjectInfo, ObjectStore
from insitu.storage.network import checked_address

if TYPE_CHECKING:
    from insitu.config import Settings

T = TypeVar("T")

LIST = "list prefix"
HEAD = "head object"
RANGE = "ranged read"
SIGNED_URL = "signed URL"
CORS = "bucket CORS"
ISOLATION = "tenant isolation"
EVENT_QUEUE = "event queue"
NOTIFICATIONS = "bucket notifications"
READS = (LIST, HEAD, RANGE, SIGNED_URL)
CORS_METHODS = ("GET", "HEAD")


@dataclass
class Steps:
    """The checks so far; after the first failure, dependent steps are recorded as skipped."""

    checks: list[Check] = field(default_factory=list)
    blocked_by: str | None = None

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def add(self, check: Check, value: T | None = None) -> T | None:
        """Record ``check``; return ``value`` when it passed, else None."""
        self.checks.append(check)
        if not check.ok and self.blocked_by is None:
            self.blocked_by = check.name
        return value if check.ok else None

    def skip(self, name: str, because: str | None = None) -> None:
        """Record ``name`` as not run, saying which failure it waits on."""
        reason = because or f"needs '{self.blocked_by}' to pass first"
        self.checks.append(Check(name, False, f"skipped: {reason}"))

    def skip_all(self, names: Iterable[str]) -> list[Check]:
        """Record each of ``names`` as waiting on the failure so far; return every check."""
        for name in names:
            self.skip(name)
        return self.checks

    def run(self, name: str, step: Callable[[], tuple[Check, T | None]]) -> T | None:
        """Run a dependent ``step`` unless an earlier step failed (then record it as skipped)."""
        if self.blocked_by is not None:
            self.skip(name)
            return None
        return self.add(*step())

    def run_anyway(self, step: Callable[[], tuple[Check, T | None]]) -> T | None:
        """Run an independent ``step`` whatever failed before."""
        return self.add(*step())


def failed(name: str, what: str, exc: InsituError, fix: str | None = None) -> Check:
    """A failed check from insitu's error: its detail, and ``fix`` or the error's own fix.

    The steps catch only InsituError: providers map their SDK's errors to it at the store's
    boundary, so anything else is a bug, and reaches the API as a 500 with its traceback.
    """
    return Check(name, False, f"{what} failed: {exc.detail}", fix or exc.fix)


def list_sample(
    store: ObjectStore, prefix: str, *, fix: str | None = None, page_size: int = 100
) -> tuple[Check, ObjectInfo | None]:
    """List the first page under ``prefix``; the sample is its first non-empty object."""
    try:
        page = next(iter(store.list_pages(prefix, page_size=page_size)), None)
    except InsituError as exc:
        return failed(LIST, f"listing {prefix or '(bucket root)'}", exc, fix), None
    objects = page.objects if page else []
    files = [obj for obj in objects if not obj.key.endswith("/")]
    if not files:
        return (
            Check(
                LIST,
                False,
                f"listing works but no objects are under {prefix or '(bucket root)'!r}",
                "check the path (prefixes are case-sensitive and end with '/'), "
                "or upload the files first",
            ),
            None,
        )
    sample = next((obj for obj in files if obj.size > 0), files[0])
    more = "+" if page and page.cursor else ""
    noun = "object" if len(objects) == 1 and not more else "objects"
    detail = f"listed {len(objects)}{more} {noun}; sample {sample.key!r} ({sample.size} bytes)"
    return Check(LIST, True, detail), sample


def head_sample(
    store: ObjectStore, key: str, *, fix: str | None = None
) -> tuple[Check, ObjectInfo | None]:
    """HEAD ``key``: its size, ETag and encryption."""
    try:
        info = store.head(key)
    except InsituError as exc:
        return failed(HEAD, f"HEAD {key!r}", exc, fix), None
    encryption = f", encrypted {info.encryption}" if info.encryption else ""
    detail = f"HEAD {key!r}: {info.size} bytes, ETag {info.etag}{encryption}"
    return Check(HEAD, True, detail), info


def read_first_byte(
    store: ObjectStore, key: str, *, fix: str | None = None
) -> tuple[Check, bytes | None]:
    """Read byte 0 of ``key`` with a ranged GET (empty for an empty object)."""
    try:
        data = store.get_range(key, 0, 1)
    except InsituError as exc:
        return failed(RANGE, f"ranged GET bytes=0-0 of {key!r}", exc, fix), None
    if len(data) > 1:
        detail = f"asked for 1 byte of {key!r}, got {len(data)}: the store ignores Range"
        return Check(RANGE, False, detail, "use a store that supports HTTP Range requests"), None
    return Check(RANGE, True, f"ranged GET bytes=0-0 of {key!r} returned {len(data)} byte"), data


def fetch_signed_url(
    store: ObjectStore,
    key: str,
    *,
    allowed: Sequence[str],
    expected: bytes | None = None,
    ttl: timedelta = timedelta(minutes=5),
    fix: str | None = None,
    client: httpx.Client | None = None,
) -> tuple[Check, str | None]:
    """Sign a URL for ``key`` and GET its first byte as a browser would (no credentials).

    The URL's host is checked as a connection's endpoint is (public, or in ``allowed``: the
    context's ``private_endpoints``) and the checked address is the one connected to; a
    redirect is reported, never followed.
    """
    try:
        signed = store.sign(key, ttl=ttl)
    except InsituError as exc:
        return failed(SIGNED_URL, f"signing a URL for {key!r}", exc, fix), None
    first_byte = {"Range": "bytes=0-0"}
    try:
        if client is None:
            with httpx.Client(timeout=15) as own:
                response = checked_request(own, "GET", signed.url, allowed, headers=first_byte)
        else:
            response = checked_request(client, "GET", signed.url, allowed, headers=first_byte)
    except InvalidConfiguration as exc:
        detail = f"the signed URL for {key!r} was not fetched: {exc.detail}"
        return Check(SIGNED_URL, False, detail, exc.fix), None
    except httpx.HTTPError as exc:
        detail = f"fetching the signed URL for {key!r} failed: {type(exc).__name__}: {exc}"
        hint = "make sure the bucket's endpoint is reachable from where browsers run"
        return Check(SIGNED_URL, False, detail[:300], fix or hint), None
    if response.status_code not in (200, 206):
        status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        detail = f"the signed URL for {key!r} answered {status}"
        if response.is_redirect:
            detail += ", a redirect insitu does not follow"
        return Check(SIGNED_URL, False, detail, fix), None
    if expected is not None and response.content[:1] != expected[:1]:
        detail = f"the signed URL for {key!r} returned other bytes than a ranged GET of it"
        return Check(SIGNED_URL, False, detail, fix), None
    detail = f"the signed URL for {key!r} answered HTTP {response.status_code}"
    return Check(SIGNED_URL, True, detail), signed.url


def checked_request(
    client: httpx.Client,
    method: str,
    url: str,
    allowed: Sequence[str],
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    stream: bool = False,
) -> httpx.Response:
    """``method`` ``url`` through ``client``, connecting only to the address that was checked.

    InvalidConfiguration if the host is not public nor in ``allowed`` (network.check_address).
    The request goes to that IP, with the URL's own Host header (a signature covers it) and,
    over HTTPS, its name for SNI and certificate checks. Redirects are returned, not followed.
    With ``stream`` the body is left unread (the caller closes the response).
    """
    target = httpx.URL(url)
    address = checked_address(url, allowed)
    request = client.build_request(
        method,
        target.copy_with(host=address),
        headers={**(headers or {}), "Host": target.netloc.decode("ascii")},
        content=content,
        extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
    )
    return client.send(request, follow_redirects=False, stream=stream)


def sample_object(
    steps: Steps, store: ObjectStore, prefix: str, *, fix: str | None = None
) -> ObjectInfo | None:
    """List ``prefix`` and HEAD its sample object, as dependent steps; the HEAD's answer."""
    sample = steps.run(LIST, lambda: list_sample(store, prefix, fix=fix))
    return steps.run(HEAD, lambda: head_sample(store, sample.key if sample else "", fix=fix))


def read_and_sign(
    steps: Steps,
    store: ObjectStore,
    info: ObjectInfo | None,
    *,
    ttl: timedelta,
    allowed: Sequence[str],
    fix: str | None = None,
    signed_url_fix: str | None = None,
) -> str | None:
    """Read byte 0 of the sampled object, then fetch it through a signed URL (dependent steps).

    ``allowed`` are the non-public endpoints the URL may lead to (the context's
    ``private_endpoints``); ``signed_url_fix`` is what to do when only the signed URL fails
    (the provider knows why).
    """
    key = info.key if info else ""
    first = steps.run(RANGE, lambda: read_first_byte(store, key, fix=fix))
    return steps.run(
        SIGNED_URL,
        lambda: fetch_signed_url(
            store, key, allowed=allowed, expected=first, ttl=ttl, fix=signed_url_fix
        ),
    )


@dataclass(frozen=True)
class CorsRule:
    """One bucket CORS rule, normalized across providers (origins may hold a ``*`` wildcard)."""

    origins: tuple[str, ...]
    methods: frozenset[str]

    @classmethod
    def of(cls, origins: Iterable[str], methods: Iterable[str]) -> CorsRule:
        return cls(
            tuple(origin.rstrip("/") for origin in origins),
            frozenset(method.upper() for method in methods),
        )

    def allows(self, origin: str, method: str) -> bool:
        return method.upper() in self.methods and any(
            _origin_matches(pattern, origin) for pattern in self.origins
        )


def _origin_matches(pattern: str, origin: str) -> bool:
    if pattern == "*":
        return True
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, origin.rstrip("/"), flags=re.IGNORECASE) is not None


def missing_cors(
    rules: Sequence[CorsRule], origins: Sequence[str], methods: Sequence[str] = CORS_METHODS
) -> list[tuple[str, str]]:
    """The (origin, method) pairs that no rule allows."""
    return [
        (origin, method)
        for origin in origins
        for method in methods
        if not any(rule.allows(origin, method) for rule in rules)
    ]


def check_cors(
    rules: Sequence[CorsRule] | None,
    origins: Sequence[str],
    *,
    fix: str,
    where: str = "the bucket",
) -> tuple[Check, None]:
    """Check that ``rules`` (None: no CORS configuration) allow GET and HEAD from ``origins``."""
    if not origins:
        return Check(CORS, True, "no portal origins are configured; nothing to allow"), None
    if not rules:
        detail = f"{where} has no CORS rules, so browsers on {', '.join(origins)} cannot load it"
        return Check(CORS, False, detail, fix), None
    missing = missing_cors(rules, origins)
    if missing:
        pairs = ", ".join(f"{method} from {origin}" for origin, method in missing)
        return Check(CORS, False, f"{where}'s CORS rules do not allow {pairs}", fix), None
    detail = f"{where}'s CORS rules allow GET and HEAD from {', '.join(origins)}"
    return Check(CORS, True, detail), None


def isolation_warning(settings: Settings, *, fix: str) -> Check | None:
    """A passing check that warns when this connection reaches storage as a shared identity.

    Providers add it to ``verify`` when a connection has no per-org identity and the
    deployment allows that only as a development default (``Settings.shared_identity_warning``).
    """
    warning = settings.shared_identity_warning
    if warning is None:
        return None
    return Check(ISOLATION, True, f"warning: {warning}", fix)
