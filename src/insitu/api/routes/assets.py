from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from insitu.api.deps import (
    AfterQuery,
    BearerDep,
    LimitQuery,
    ReaderDep,
    SessionDep,
    SettingsDep,
    no_key_sent,
)
from insitu.assets import service as assets
from insitu.assets.schemas import AssetRead, SignedUrlIssueRead, SignedUrlRead
from insitu.config import Settings
from insitu.db import session_scope
from insitu.projects import service as projects
from insitu.schemas import Page
from insitu.storage.base import SignedURL

router = APIRouter(tags=["assets"])


@router.get("/v1/projects/{project_id}/assets")
def list_assets(
    project_id: str,
    caller: ReaderDep,
    session: SessionDep,
    status: Annotated[str | None, Query(description="active or removed")] = None,
    after: AfterQuery = None,
    limit: LimitQuery = 100,
) -> Page[AssetRead]:
    project = projects.get(session, org=caller.org, project_id=project_id)
    rows, next_cursor = assets.list_for_project(
        session, project=project, status=status, after=after, limit=limit
    )
    return Page(items=[AssetRead.model_validate(row) for row in rows], next=next_cursor)


@router.get("/v1/assets/{asset_id}")
def get_asset(asset_id: str, caller: ReaderDep, session: SessionDep) -> AssetRead:
    return AssetRead.model_validate(assets.get(session, org=caller.org, asset_id=asset_id))


@router.get("/v1/assets/{asset_id}/url-issues")
def list_asset_url_issues(
    asset_id: str,
    caller: ReaderDep,
    session: SessionDep,
    after: AfterQuery = None,
    limit: LimitQuery = 100,
) -> Page[SignedUrlIssueRead]:
    """The audit trail: every signed URL issued for this asset, by which key, until when."""
    asset = assets.get(session, org=caller.org, asset_id=asset_id)
    rows, next_cursor = assets.list_url_issues(session, asset=asset, after=after, limit=limit)
    return Page(items=[SignedUrlIssueRead.model_validate(row) for row in rows], next=next_cursor)


@router.get("/v1/assets/{asset_id}/url")
async def get_asset_url(
    asset_id: str, request: Request, settings: SettingsDep, credentials: BearerDep
) -> SignedUrlRead:
    """A read-only URL for this one file, straight from the customer's bucket, short-lived."""
    if credentials is None:
        raise no_key_sent()
    # The hottest route (every asset a labeler opens): its blocking work runs in one
    # worker-thread hop instead of one per dependency, which roughly doubles its throughput.
    signed = await run_in_threadpool(
        _sign,
        request.app.state.engine,
        credentials.credentials,
        asset_id,
        settings,
        request.client.host if request.client else None,
        request.headers.get("user-agent"),
    )
    return SignedUrlRead(url=signed.url, expires_at=signed.expires_at)


def _sign(
    engine: Engine,
    key: str,
    asset_id: str,
    settings: Settings,
    client_address: str | None,
    user_agent: str | None,
) -> SignedURL:
    with session_scope(engine) as session:
        return assets.sign_url_for_key(
            session,
            key=key,
            asset_id=asset_id,
            settings=settings,
            client_address=client_address,
            user_agent=user_agent,
        )
