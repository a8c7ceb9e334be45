"""Request dependencies: a session per request, the caller's organization, the settings."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from insitu.audit.service import SYSTEM, Actor
from insitu.config import Settings
from insitu.db import session_scope
from insitu.errors import Unauthenticated
from insitu.organizations import service as organizations
from insitu.organizations.models import ApiKey, Organization

_bearer = HTTPBearer(auto_error=False, description="An API key from `insitu org create`.")


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, committed when the route returns, rolled back if it raises.

    ``SessionDep`` runs this with ``scope="function"``: the commit happens before FastAPI sends
    the response, so a 2xx always means committed, and a failed commit becomes the 500 error
    instead of a success the database never saw.
    """
    with session_scope(request.app.state.engine) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@dataclass(frozen=True)
class Caller:
    org: Organization
    api_key: ApiKey
    # Who the audit log says acted: the key, and the address and user agent it came from.
    actor: Actor = SYSTEM


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def no_key_sent() -> Unauthenticated:
    return Unauthenticated(
        "no API key was sent",
        fix="send 'Authorization: Bearer <key>'; 'insitu org create NAME' prints a key",
    )


def authenticate(session: Session, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    """The caller behind a bearer key, or Unauthenticated saying how to send one."""
    if credentials is None:
        raise no_key_sent()
    org, api_key = organizations.authenticate(session, key=credentials.credentials)
    return Caller(org=org, api_key=api_key)


def get_caller(request: Request, session: SessionDep, credentials: BearerDep) -> Caller:
    caller = authenticate(session, credentials)
    return replace(caller, actor=request_actor(request, caller.api_key.id))


def request_actor(request: Request, actor_id: str) -> Actor:
    """``actor_id`` acting from this request's client address and user agent."""
    return Actor(
        actor_id,
        client_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


CallerDep = Annotated[Caller, Depends(get_caller)]


def is_operator(
    settings: SettingsDep,
    operator_key: Annotated[str | None, Header(alias="X-Insitu-Operator-Key")] = None,
) -> bool:
    """Whether the request carries the platform operator's key (INSITU_OPERATOR_KEY)."""
    expected = settings.operator_key.get_secret_value() if settings.operator_key else None
    return bool(expected and operator_key and hmac.compare_digest(expected, operator_key))


OperatorDep = Annotated[bool, Depends(is_operator)]


# Every paged list takes the same two parameters.
AfterQuery = Annotated[str | None, Query(description="The previous page's `next`.")]
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
