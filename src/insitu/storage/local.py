"""On-prem mounts: a directory the operator allowed, served by insitu through signed URLs.

A ``local`` connection names a directory under one of ``INSITU_LOCAL_ROOTS``; its URIs are
``file:///abs/path``. No path ever leaves that directory, symlinks included: every key is
resolved with ``realpath`` and checked to lie inside it. Browsers fetch files from insitu
itself (``/v1/local/...``) with an HMAC signature that binds connection, key and expiry.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from pydantic import Field, field_validator

from insitu.config import Settings
from insitu.errors import (
    AccessDenied,
    InsituError,
    InvalidConfiguration,
    InvalidLocation,
    ObjectNotFound,
    OperatorOnly,
    StorageError,
)
from insitu.security import Signer
from insitu.storage.base import (
    Check,
    CorsAdvice,
    ListPage,
    Location,
    ObjectInfo,
    ProviderConfig,
    ProviderContext,
    SignedURL,
    no_heads,
)
from insitu.storage.cards import CardBlock, CardContext, CardFact, SettingsCard
from insitu.storage.verify import (
    CORS,
    RANGE,
    SIGNED_URL,
    Steps,
    failed,
    read_first_byte,
    sample_object,
)

URL_PATH = "/v1/local"
DIRECTORY = "directory"


class LocalConfig(ProviderConfig):
    root: str = Field(title="Directory", description="an absolute path, e.g. /srv/data")

    @field_validator("root")
    @classmethod
    def _absolute(cls, root: str) -> str:
        if "\x00" in root or not os.path.isabs(root):
            raise ValueError("root must be an absolute directory path, e.g. /srv/data/images")
        return os.path.normpath(root)


def url_signer(settings: Settings) -> Signer:
    return Signer(settings.secret_keys, "local-files")


def allowed_root(root: str, settings: Settings) -> Path:
    """``root`` resolved, if it is a readable directory under one of INSITU_LOCAL_ROOTS."""
    allowed = [Path(os.path.realpath(path)) for path in settings.local_roots]
    if not allowed:
        raise InvalidConfiguration(
            "local connections are disabled on this server",
            fix="the operator sets INSITU_LOCAL_ROOTS to the directories insitu may read",
        )
    real = Path(os.path.realpath(root))
    if not any(real == base or base in real.parents for base in allowed):
        raise InvalidConfiguration(
            f"{root} is not under a directory this server allows",
            fix=f"use a directory under {', '.join(str(path) for path in allowed)}, "
            "or ask the operator to add it to INSITU_LOCAL_ROOTS",
        )
    if not real.is_dir():
        raise InvalidConfiguration(
            f"{root} is not a directory", fix="create it or give an existing directory"
        )
    return real


class LocalStore:
    # A directory is walked, not paged by a remote store: splitting it buys no latency.
    key_ranges = False

    def __init__(self, root: Path, signer: Signer, base_url: str, connection_id: str) -> None:
        self.root = root
        self._signer = signer
        self._base_url = base_url.rstrip("/")
        self._connection_id = connection_id

    # -- resolving keys safely -------------------------------------------------

    def resolve(self, key: str) -> Path:
        """The real path of ``key``, which may not exist (yet).

        InvalidLocation for a key no file can have (a NUL byte, a '..' part, a name longer
        than file systems allow); AccessDenied if it (or a symlink in it) leaves the root.
        """
        _check_key(key)
        real = Path(os.path.realpath("/" + key))
        if real != self.root and self.root not in real.parents:
            raise AccessDenied(
                f"/{key} is outside the connection's directory {self.root}",
                fix=f"import only files under {self.root}",
            )
        return real

    def file_path(self, key: str) -> Path:
        """The real path of ``key``, checked to be a regular file inside the root right now.

        Raises insitu's errors, never an OSError: ObjectNotFound for a missing file or a
        directory, InvalidLocation or AccessDenied as ``resolve`` does.
        """
        path = self.resolve(key)
        self._stat(key, path)
        return path

    # -- ObjectStore -----------------------------------------------------------

    def list_pages(
        self,
        prefix: str,
        *,
        cursor: str | None = None,
        page_size: int = 1000,
        delimiter: str | None = None,
    ) -> Iterator[ListPage]:
        if delimiter not in (None, "/"):
            raise InvalidLocation(
                f"a directory is listed by '/', not {delimiter!r}", fix="list with '/' or none"
            )
        directory, _, name_start = prefix.rpartition("/")
        base = self.resolve(directory) if directory else None
        if base is None or not base.is_dir():
            raise ObjectNotFound(
                f"/{directory} is not a directory", fix="check the path of the source"
            )
        # A full page is held back until one more file shows there is a next page: the
        # last page has no cursor, as with every other store.
        page: list[ObjectInfo | str] = []  # a str is a folder, with a delimiter
        walk = self._walk(f"{directory}/", base, name_start, cursor, rolled_up=bool(delimiter))
        for entry in walk:
            if len(page) == page_size:
                yield _page(page, more=True)
                page = []
            page.append(entry)
        if page:
            yield _page(page, more=False)

    def _walk(
        self,
        key_prefix: str,
        directory: Path,
        name_start: str,
        cursor: str | None,
        *,
        rolled_up: bool = False,
    ) -> Iterator[ObjectInfo | str]:
        # Sorting "name/" for directories yields full keys in plain lexicographic order,
        # which is what makes a cursor (the last key done) a stable place to resume.
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            return  # removed while being walked: its files are gone indeed
        except OSError as exc:
            # Never a listing with a silent hole: a reconcile would take every file under
            # this directory out of circulation (an unreadable or unmounted directory).
            raise _os_error(key_prefix, exc) from exc
        named = []
        for entry in entries:
            if not entry.name.startswith(name_start):
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            named.append((entry.name + ("/" if is_dir else ""), entry, is_dir))
        for name, entry, is_dir in sorted(named, key=lambda item: item[0]):
            key = key_prefix + name
            if rolled_up and is_dir:
                if cursor is None or key > cursor and not cursor.startswith(key):
                    yield key  # a folder, listed apart by whoever asked for the delimiter
                continue
            if cursor is not None and key <= cursor and not cursor.startswith(key):
                continue
            if is_dir:
                yield from self._walk(key, Path(entry.path), "", cursor)
                continue
            if cursor is not None and key <= cursor:
                continue
            try:
                path = self.resolve(key)
            except (AccessDenied, InvalidLocation):
                continue  # a symlink out of the root, a name no file can have: never listed
            try:
                yield self._info(key, path)
            except ObjectNotFound:
                continue  # gone since the scan, or no regular file (a FIFO, a socket)

    def head(self, key: str) -> ObjectInfo:
        return self._info(key, self.resolve(key))

    def _info(self, key: str, path: Path) -> ObjectInfo:
        status = self._stat(key, path)
        return ObjectInfo(
            key=key,
            size=status.st_size,
            # The inode makes the ETag name this very file: a rename keeps it (a reconcile
            # sees a move), while two files written in one clock tick with one size differ.
            etag=f"{status.st_ino:x}-{status.st_mtime_ns:x}-{status.st_size:x}",
            last_modified=datetime.fromtimestamp(status.st_mtime, UTC),
        )

    def _stat(self, key: str, path: Path) -> os.stat_result:
        try:
            status = path.stat()
        except OSError as exc:
            raise _os_error(key, exc) from exc
        if not stat.S_ISREG(status.st_mode):
            raise _not_a_file(key, status)
        return status

    def read_heads(self, wants: Sequence[tuple[str, int]]) -> Future[dict[str, bytes]]:
        return no_heads()  # each file is read on its own

    def get_range(self, key: str, start: int, end: int) -> bytes:
        fd = self.open_file(key)
        try:
            return os.pread(fd, max(0, end - start), start)
        except OSError as exc:
            raise _os_error(key, exc) from exc
        finally:
            os.close(fd)

    def open_file(self, key: str) -> int:
        """An open descriptor of ``key``, a regular file inside the root *as opened*.

        Checking a path and then opening it would let a symlink swapped in between (in the
        file's place or a parent directory's) lead outside the root; so the file is opened
        first and what was opened is checked. The caller closes the descriptor.
        """
        path = self.resolve(key)
        # O_NOFOLLOW: no symlink in the file's own place; O_NONBLOCK: a FIFO must not hang.
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            raise _os_error(key, exc) from exc
        try:
            status = os.fstat(fd)
            # Where the opened file really is (Linux names it; elsewhere the path resolved).
            opened = Path(os.path.realpath(fd_path(fd))) if FD_DIR.is_dir() else path
        except OSError as exc:
            os.close(fd)
            raise _os_error(key, exc) from exc
        if not stat.S_ISREG(status.st_mode):
            os.close(fd)
            raise _not_a_file(key, status)
        if opened != path and self.root not in opened.parents:
            os.close(fd)
            raise AccessDenied(
                f"/{key} led outside the connection's directory {self.root} when opened",
                fix=f"import only files under {self.root}",
            )
        return fd

    def sign(self, key: str, *, ttl: timedelta) -> SignedURL:
        expires_at = datetime.now(UTC).replace(microsecond=0) + ttl
        expires = str(int(expires_at.timestamp()))
        signature = self._signer.signature(self._connection_id, key, expires)
        query = urlencode({"expires": expires, "signature": signature})
        url = f"{self._base_url}{URL_PATH}/{self._connection_id}/{quote(key, safe='/')}?{query}"
        return SignedURL(url=url, expires_at=expires_at)

    def signature_valid(self, key: str, expires: str, signature: str) -> bool:
        return self._signer.verify(signature, self._connection_id, key, expires)

    def close(self) -> None:
        pass


class LocalProvider:
    name: ClassVar[str] = "local"
    schemes: ClassVar[tuple[str, ...]] = ("file",)
    config_model: ClassVar[type[ProviderConfig]] = LocalConfig
    example_uri: ClassVar[str] = "file:///srv/data/images/"
    title: ClassVar[str] = "Local directory"
    short_name: ClassVar[str] = "directory"
    verify_label: ClassVar[str] = "Verify access"
    path_help: ClassVar[str] = (
        "file:// and the absolute path of a folder inside the connected directory, e.g. "
        "file:///srv/data/images/"
    )
    instructions: ClassVar[tuple[str, ...]] = (
        "The platform operator connected this directory for your organization; insitu "
        "serves its files to labelers itself, so no CORS rules are needed.",
    )
    # INSITU_LOCAL_ROOTS serve the whole server: no org may connect a directory alone.
    operator_only: ClassVar[bool] = True

    def parse(self, uri: str) -> Location:
        if not uri.startswith("file:///"):
            raise InvalidLocation(
                f"{uri!r} is not an absolute file URI",
                fix=f"write file:// followed by an absolute path, e.g. {self.example_uri}",
            )
        path = uri.removeprefix("file:///")
        if "\x00" in path or any(part == ".." for part in path.split("/")):
            raise InvalidLocation(
                f"{uri!r} contains '..' or a NUL byte",
                fix=f"give the plain absolute path, e.g. {self.example_uri}",
            )
        return Location(provider=self.name, scheme="file", bucket="", key=path)

    def validate_config(self, config: ProviderConfig, context: ProviderContext) -> None:
        """Only the operator connects a directory: INSITU_LOCAL_ROOTS serve the whole server."""
        assert isinstance(config, LocalConfig)
        if not context.operator:
            raise OperatorOnly(
                "only the platform operator may connect a local directory: the server's "
                "directories are not any one organization's",
                fix="ask the operator to run 'insitu connect local --root DIR --org ORG_ID' "
                "(or to send X-Insitu-Operator-Key)",
            )
        allowed_root(config.root, context.settings)

    def open(
        self, config: ProviderConfig, *, location: Location, context: ProviderContext
    ) -> LocalStore:
        assert isinstance(config, LocalConfig)
        root = allowed_root(config.root, context.settings)
        return LocalStore(
            root, url_signer(context.settings), context.settings.public_url, context.connection_id
        )

    def verify(
        self, config: ProviderConfig, *, location: Location, context: ProviderContext
    ) -> Sequence[Check]:
        steps = Steps()
        try:
            store = self.open(config, location=location, context=context)
        except InsituError as exc:
            steps.add(failed(DIRECTORY, "opening the connection's directory", exc))
            return steps.checks
        steps.add(Check(DIRECTORY, True, f"{store.root} is allowed and is a directory"))
        info = sample_object(steps, store, location.key)
        key = info.key if info else ""
        steps.run(RANGE, lambda: read_first_byte(store, key))
        steps.run(SIGNED_URL, lambda: _signed_url_round_trip(store, key))
        origins = ", ".join(context.settings.portal_origins) or "no origins"
        steps.add(Check(CORS, True, f"insitu serves these files itself, with CORS for {origins}"))
        return steps.checks

    def offered(self, settings: Settings) -> bool:
        return bool(settings.local_roots)  # the operator allowed directories on this server

    def clear_cache(self) -> None:
        pass  # nothing cached: every store is opened from the connection's settings

    def settings_card(self, context: CardContext) -> SettingsCard:
        """The directories the operator allows; insitu itself serves their files."""
        roots = [str(root) for root in context.settings.local_roots]
        card = SettingsCard(
            provider=self.name,
            title="Local directory",
            summary=(
                "Files in a directory on insitu's own server, served by insitu with signed "
                "URLs. Only the platform operator may connect a directory, and only under "
                "the roots below."
            ),
            facts=[
                CardFact("local_roots", "Allowed directories", ", ".join(roots) or None),
            ],
            blocks=[
                CardBlock(
                    "connect_command",
                    "Connect a directory (operator, on the server)",
                    "shell",
                    f"insitu connect local --org {context.org_id} --root "
                    f"{roots[0] if roots else '/srv/data'}",
                )
            ],
        )
        if not roots:
            card.warnings.append(
                "No directory may be connected: the operator lists them in INSITU_LOCAL_ROOTS."
            )
        return card

    def cors_advice(self, origins: Sequence[str]) -> CorsAdvice:
        return CorsAdvice(
            provider=self.name,
            rules={"served_by": "insitu", "allowed_origins": list(origins)},
            command="export INSITU_PORTAL_ORIGINS=" + ",".join(origins),
        )


def _signed_url_round_trip(store: LocalStore, key: str) -> tuple[Check, str | None]:
    """Sign a URL and check insitu would serve it (the server checks the same signature)."""
    signed = store.sign(key, ttl=timedelta(minutes=5))
    query = parse_qs(urlsplit(signed.url).query)
    valid = store.signature_valid(key, query["expires"][0], query["signature"][0])
    if not valid:
        return Check(SIGNED_URL, False, "a freshly signed URL does not verify", None), None
    return Check(
        SIGNED_URL, True, f"signed URL for {key!r} verifies until {signed.expires_at}"
    ), signed.url


# Linux's limits for one path component and a whole path, in bytes (ext4, xfs, btrfs, tmpfs).
NAME_MAX = 255
PATH_MAX = 4096


def _check_key(key: str) -> None:
    """Refuse a key no file can have, before it reaches the file system."""
    if "\x00" in key:
        raise InvalidLocation(f"{key!r} is not a valid path", fix="remove the NUL byte")
    parts = key.split("/")
    if ".." in parts:
        raise InvalidLocation(
            f"{'/' + key!r} contains '..'",
            fix="name the file by its plain path under the connection's directory",
        )
    try:
        encoded = [part.encode("utf-8", "surrogateescape") for part in parts]
    except UnicodeEncodeError as exc:
        raise InvalidLocation(
            f"{key!r} is not a valid path: {exc.reason}", fix="name the file in UTF-8"
        ) from exc
    if (
        any(len(part) > NAME_MAX for part in encoded)
        or sum(map(len, encoded)) + len(parts) >= PATH_MAX
    ):
        raise _too_long(key)


def _too_long(key: str) -> InvalidLocation:
    return InvalidLocation(
        f"{'/' + key[:120]!r}{'...' if len(key) > 120 else ''} is longer than a file name "
        "or path may be "
        f"(at most {NAME_MAX} bytes a name, {PATH_MAX} a path)",
        fix="check the file name; no file on the server can have this one",
    )


def _not_a_file(key: str, status: os.stat_result) -> ObjectNotFound:
    what = "a directory" if stat.S_ISDIR(status.st_mode) else "not a regular file"
    return ObjectNotFound(
        f"file:///{key} is {what}", fix="name a file, or import the directory as a prefix"
    )


FD_DIR = Path("/proc/self/fd")


def fd_path(fd: int) -> str:
    """A path that opens the very file descriptor ``fd`` has open (Linux's /proc)."""
    return str(FD_DIR / str(fd))


def _os_error(key: str, exc: OSError) -> InsituError:
    """insitu's error for an OSError met reading ``key``: never a bare OSError to callers."""
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return ObjectNotFound(
            f"file:///{key} does not exist",
            fix="check the path; a file moved or deleted after import must be imported again",
        )
    if exc.errno == errno.EISDIR:
        return ObjectNotFound(
            f"file:///{key} is a directory", fix="name a file, or import the directory as a prefix"
        )
    if exc.errno == errno.ENAMETOOLONG:
        return _too_long(key)
    if exc.errno == errno.ELOOP:
        return AccessDenied(
            f"file:///{key} is a symlink (or loops through symlinks) where a file was resolved",
            fix="replace the symlink with the file itself, under the connection's directory",
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AccessDenied(
            f"the insitu server may not read file:///{key}",
            fix="the operator gives the server's user read permission on the file",
        )
    return StorageError(
        f"reading file:///{key} failed: {exc.strerror or exc}",
        fix="check the server's disk or mount; try again once it is readable",
    )


PROVIDER = LocalProvider()


def _page(entries: list[ObjectInfo | str], *, more: bool) -> ListPage:
    objects = [entry for entry in entries if isinstance(entry, ObjectInfo)]
    folders = [entry for entry in entries if isinstance(entry, str)]
    last = entries[-1]
    cursor = last if isinstance(last, str) else last.key
    return ListPage(objects, cursor if more else None, folders)
