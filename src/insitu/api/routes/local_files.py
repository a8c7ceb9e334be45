"""Serves files of ``local`` connections to browsers holding a signed, unexpired URL."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from insitu.api.deps import SessionDep, SettingsDep
from insitu.connections import service as connections
from insitu.connections.models import Connection
from insitu.errors import AccessDenied, NotFound
from insitu.organizations.models import Organization
from insitu.security import Signer
from insitu.storage.local import URL_PATH, LocalStore, url_signer

router = APIRouter(tags=["local files"])

_REFUSED = AccessDenied(
    "this file URL is invalid or has expired",
    fix="ask the API for a new one: GET /v1/assets/{id}/url",
)


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
    org = session.get_one(Organization, connection.org_id)
    location = connections.location_for(connection, "file:///" + key)
    store = connections.open_store(connection, org=org, location=location, settings=settings)
    if not isinstance(store, LocalStore):  # a signature only ever names a local connection
        raise _REFUSED
    path = store.resolve(key)
    # The type comes from the name; nosniff stops a browser from guessing another one.
    headers = {"Cache-Control": "private, max-age=60", "X-Content-Type-Options": "nosniff"}
    return FileResponse(path, headers=headers)
