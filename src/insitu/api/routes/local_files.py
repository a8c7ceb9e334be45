"""Serves files of ``local`` connections to browsers holding a signed, unexpired URL.

The files are the customer's, yet they are served from insitu's own origin, so a file must
never run as a page of that origin: every response carries ``X-Content-Type-Options: nosniff``
and ``Content-Security-Policy: sandbox``, and only media the portal displays (images, video,
audio, by their name's type) is served ``inline``; everything else, HTML, SVG, XML, scripts and
PDF included, is an ``attachment`` the browser downloads instead of rendering.

A URL serves only a file that is an active asset of its connection: once the asset is removed
(canceled, or gone from the bucket) its URLs stop working though their signature is still
valid. ``verify`` is unaffected: for a local connection it checks a signed URL's signature in
process (storage/local.py) and never fetches it through this route.
"""

from __future__ import annotations

import errno
import mimetypes
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from insitu.api.deps import SessionDep, SettingsDep
from insitu.assets.models import ACTIVE, Asset
from insitu.connections import service as connections
from insitu.connections.models import Connection
from insitu.errors import AccessDenied, InvalidLocation, NotFound, ObjectNotFound, StorageError
from insitu.organizations.models import Organization
from insitu.security import Signer
from insitu.storage.local import URL_PATH, LocalStore, url_signer

router = APIRouter(tags=["local files"])

_REFUSED = AccessDenied(
    "this file URL is invalid or has expired",
    fix="ask the API for a new one: GET /v1/assets/{id}/url",
)

# Types a browser shows without running anything; SVG (an image that runs script) is not one.
_INLINE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/bmp",
        "image/tiff",
        "video/mp4",
        "video/webm",
        "video/ogg",
        "video/quicktime",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/wav",
        "audio/x-wav",
        "audio/ogg",
        "audio/webm",
        "audio/flac",
    }
)
_HEADERS = {
    "Cache-Control": "private, max-age=60",
    # The type comes from the name; nosniff stops a browser from guessing another one.
    "X-Content-Type-Options": "nosniff",
    # Even a file a browser does render gets no script, no forms and no origin of its own.
    "Content-Security-Policy": "sandbox",
}


@router.api_route(
    URL_PATH + "/{connection_id}/{key:path}", methods=["GET", "HEAD"], include_in_schema=False
)
def get_local_file(
    connection_id: str,
    key: str,
    session: SessionDep,
    settings: SettingsDep,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query()],
) -> FileResponse:
    signer = url_signer(settings)
    if Signer.expired(expires) or not signer.verify(signature, connection_id, key, str(expires)):
        raise _REFUSED
    connection = session.get(Connection, connection_id)
    if connection is None or connection.deleted_at is not None:
        raise NotFound("this file's connection no longer exists", fix="re-import the file")
    if not _is_active_asset(session, connection_id=connection_id, key=key):
        raise NotFound(
            f"file:///{key} is no longer an asset of this connection (it was removed)",
            fix="restore the asset, or re-import the file, then ask for a new URL",
        )
    org = session.get_one(Organization, connection.org_id)
    location = connections.location_for(connection, "file:///" + key)
    store = connections.open_store(connection, org=org, location=location, settings=settings)
    if not isinstance(store, LocalStore):  # a signature only ever names a local connection
        raise _REFUSED
    path, status = _regular_file(store, key)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    disposition = "inline" if media_type in _INLINE_TYPES else "attachment"
    return FileResponse(
        path,
        stat_result=status,
        media_type=media_type,
        filename=PurePosixPath(key).name,
        content_disposition_type=disposition,
        headers=_HEADERS,
    )


def _is_active_asset(session: Session, *, connection_id: str, key: str) -> bool:
    query = (
        select(Asset.id)
        .where(Asset.connection_id == connection_id, Asset.key == key, Asset.status == ACTIVE)
        .limit(1)
    )
    return session.scalar(query) is not None


def _regular_file(store: LocalStore, key: str) -> tuple[Path, os.stat_result]:
    """The file's path and status, or a 4xx error saying why it cannot be served."""
    try:
        path = store.resolve(key)
        status = os.stat(path)
    except StorageError:
        raise
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise ObjectNotFound(
            f"file:///{key} no longer exists on the server",
            fix="the file was moved or deleted after import; re-import it from its new place",
        ) from exc
    except PermissionError as exc:
        raise AccessDenied(
            f"insitu may not read file:///{key}",
            fix="let the user insitu runs as read the file",
        ) from exc
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise InvalidLocation(
                f"file:///{key[:200]}... is longer than the file system allows",
                fix="use a shorter path",
            ) from exc
        raise ObjectNotFound(
            f"file:///{key} cannot be read: {exc.strerror}", fix="check the file on the server"
        ) from exc
    if not stat.S_ISREG(status.st_mode):
        raise ObjectNotFound(
            f"file:///{key} is not a file (a directory?)", fix="ask for the URL of a file"
        )
    return path, status
