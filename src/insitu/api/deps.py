"""Request dependencies: a session per request, the caller (its org and scope), rate limits."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from insitu.api.ratelimit import RateLimiter
from insitu.audit.service import SYSTEM, Actor
from insitu.config import Settings
from insitu.db import session_scope
from insitu.errors import Forbidden, Unauthenticated
from insitu.organizations import service as organizations
from insitu.organizations.models import ApiKey, Organization
from insitu.security import same_secret

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


_limiter_lock = threading.Lock()


def rate_limiter(request: Request) -> RateLimiter:
    """This app's in-process rate limiter, made from its settings on first use."""
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "rate_limiter", None)
    if limiter is None:
        with _limiter_lock:
            limiter = getattr(state, "rate_limiter", None)
            if limiter is None:
                limiter = state.rate_limiter = RateLimiter(state.settings)
    return limiter


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def bearer_credentials(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AsyncIterator[HTTPAuthorizationCredentials | None]:
    """The bearer key sent, if any, once the rate limits let the request through.

    Async, so the signed-URL route pays no thread hop for it; a key refused further on (here
    or in the route itself) counts as a failed authentication from the client's address.
    """
    limiter, address = rate_limiter(request), client_address(request)
    limiter.admit(address, credentials.credentials if credentials else None)
    try:
        yield credentials
    except Unauthenticated:
        if credentials is not None:
            limiter.failed(address)
        raise


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_credentials)]


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
    """An admin key's caller: the default for every route, so a new route is never open."""
    caller = get_reader(request, session, credentials)
    if caller.api_key.scope != organizations.ADMIN:
        raise Forbidden(
            f"this API key has the {caller.api_key.scope!r} scope, which may only read assets "
            "and their signed URLs",
            fix="use an admin key of your organization for this (an admin can create one: "
            "POST /v1/api-keys with scope admin)",
        )
    return caller


def get_reader(request: Request, session: SessionDep, credentials: BearerDep) -> Caller:
    """A caller with any scope: for the routes that only read assets and what leads to them."""
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
ReaderDep = Annotated[Caller, Depends(get_reader)]

# Every request sending the operator key shares one bucket, whatever key it sends.
_OPERATOR_BUCKET = "\0operator"


def is_operator(
    request: Request,
    settings: SettingsDep,
    operator_key: Annotated[str | None, Header(alias="X-Insitu-Operator-Key")] = None,
) -> bool:
    """Whether the request carries the platform operator's key (INSITU_OPERATOR_KEY).

    Rate-limited like an API key, and a wrong one counts as a failed authentication.
    """
    if operator_key is None:
        return False
    limiter, address = rate_limiter(request), client_address(request)
    limiter.admit(address, _OPERATOR_BUCKET)
    expected = settings.operator_key.get_secret_value() if settings.operator_key else None
    if expected and same_secret(expected, operator_key):
        return True
    limiter.failed(address)
    return False


OperatorDep = Annotated[bool, Depends(is_operator)]


# Every paged list takes the same two parameters.
AfterQuery = Annotated[str | None, Query(description="The previous page's `next`.")]
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
