"""An organization's API keys: list them, create one (its secret shown once), revoke one."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from insitu.api.deps import CallerDep, SessionDep, client_address
from insitu.audit.service import Actor
from insitu.organizations import service as organizations
from insitu.organizations.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


def _actor(caller: CallerDep, request: Request) -> Actor:
    return Actor(
        caller.api_key.id,
        client_address=client_address(request),
        user_agent=request.headers.get("user-agent"),
    )


@router.get("")
def list_api_keys(caller: CallerDep, session: SessionDep) -> list[ApiKeyRead]:
    """Every key of the organization, revoked and expired ones included; never a secret."""
    rows = organizations.list_api_keys(session, org=caller.org)
    return [ApiKeyRead.model_validate(row) for row in rows]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_api_key(
    data: ApiKeyCreate, caller: CallerDep, session: SessionDep, request: Request
) -> ApiKeyCreated:
    """A new key; ``secret`` is in this response only, insitu keeps just its hash."""
    api_key, secret = organizations.issue_api_key(
        session,
        org=caller.org,
        name=data.name,
        scope=data.scope,
        expires_at=data.expires_at,
        actor=_actor(caller, request),
    )
    return ApiKeyCreated(**ApiKeyRead.model_validate(api_key).model_dump(), secret=secret)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_api_key(
    key_id: str, caller: CallerDep, session: SessionDep, request: Request
) -> Response:
    """Revoke a key at once; the organization's last usable admin key cannot be revoked."""
    api_key = organizations.get_api_key(session, org=caller.org, key_id=key_id)
    organizations.revoke_api_key(
        session, api_key=api_key, actor=_actor(caller, request), keep_last_admin=True
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
