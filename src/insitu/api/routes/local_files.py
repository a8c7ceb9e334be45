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

import mimetypes
import os
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.types import Receive, Scope, Send

from insitu.api.deps import SessionDep, SettingsDep
from insitu.assets import service as assets
from insitu.errors import AccessDenied
from insitu.security import Signer
from insitu.storage.local import FD_DIR, URL_PATH, LocalStore, fd_path, url_signer

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
    store = assets.served_store(session, connection_id=connection_id, key=key, settings=settings)
    if not isinstance(store, LocalStore):  # a signature only ever names a local connection
        raise _REFUSED
    # A regular file inside the root as opened, or insitu's 4xx error saying why not (gone, a
    # directory, an over-long name, a symlink out of the root, unreadable).
    fd = store.open_file(key)
    name = PurePosixPath(key).name
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    disposition = "inline" if media_type in _INLINE_TYPES else "attachment"
    # Linux names the opened file itself; elsewhere, the path resolved a moment ago.
    path = fd_path(fd) if FD_DIR.is_dir() else str(store.resolve(key))
    return _OpenedFileResponse(
        fd,
        path,
        media_type=media_type,
        filename=name,
        content_disposition_type=disposition,
        headers=_HEADERS,
    )


class _OpenedFileResponse(FileResponse):
    """The file a checked descriptor has open, served (ranges too) from that very file: no
    path is opened again, so nothing swapped in after the check is ever served. The
    descriptor is closed however sending ends."""

    def __init__(self, fd: int, path: str, **kwargs: Any) -> None:
        self._fd = fd
        super().__init__(path, stat_result=os.fstat(fd), **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            os.close(self._fd)
