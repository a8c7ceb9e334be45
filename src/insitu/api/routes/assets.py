from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from insitu.api.deps import (
    AfterQuery,
    BearerDep,
    CallerDep,
    LimitQuery,
    ReaderDep,
    SessionDep,
    SettingsDep,
    no_key_sent,
    request_actor,
)
from insitu.api.errors import UNAVAILABLE_RESPONSES
from insitu.api.hot_path import on_hot_path
from insitu.assets import service as assets
from insitu.assets.models import Asset
from insitu.assets.schemas import (
    AssetDetailRead,
    AssetEventRead,
    AssetRead,
    AssetRemove,
    AssetReportRead,
    AssetsRemovedRead,
    CirculationItem,
    SignedUrlIssueRead,
    SignedUrlRead,
)
from insitu.audit.service import Actor
from insitu.config import Settings
from insitu.db import session_scope
from insitu.organizations import service as organizations
from insitu.projects import service as projects
from insitu.schemas import Page
from insitu.storage.base import SignedURL

router = APIRouter(tags=["assets"])


@router.get("/v1/projects/{project_id}/assets")
def list_assets(
    project_id: str,
    caller: ReaderDep,
    session: SessionDep,
    status: Annotated[
        str | None, Query(description="active (the default), removed or all.")
    ] = None,
    reason: Annotated[str | None, Query(description="Only assets removed for this reason.")] = None,
    after: AfterQuery = None,
    limit: LimitQuery = 100,
) -> Page[AssetRead]:
    """The assets in circulation; ``status=removed`` (or ``all``) shows the others and why."""
    project = projects.get(session, org=caller.org, project_id=project_id)
    rows, next_cursor = assets.list_for_project(
        session, project=project, status=status, reason=reason, after=after, limit=limit
    )
    return Page(items=[AssetRead.model_validate(row) for row in rows], next=next_cursor)


@router.post("/v1/projects/{project_id}/assets/remove")
def remove_assets(
    project_id: str, data: AssetRemove, caller: CallerDep, session: SessionDep
) -> AssetsRemovedRead:
    """Take assets out of labeling circulation (``canceled``); their records stay."""
    project = projects.get(session, org=caller.org, project_id=project_id)
    removed = assets.remove_from_project(
        session,
        project=project,
        actor=caller.actor,
        asset_ids=data.asset_ids,
        import_id=data.import_id,
        prefix=data.prefix,
    )
    return AssetsRemovedRead(removed=removed)


@router.get(
    "/v1/projects/{project_id}/circulation",
    response_model=Page[CirculationItem],
    responses=UNAVAILABLE_RESPONSES,
)
async def get_circulation(
    project_id: str,
    request: Request,
    settings: SettingsDep,
    credentials: BearerDep,
    after: AfterQuery = None,
    limit: LimitQuery = 100,
) -> Response:
    """The next assets to label, each with a fresh signed URL: one call instead of N.

    Any key of the project's org may ask (labeler keys too). Like the signed-URL route, a
    labeling tool's hot path: its blocking work runs in one worker-thread hop and its JSON is
    made once.
    """
    if credentials is None:
        raise no_key_sent()
    body = await on_hot_path(
        request,
        _circulation_page,
        request.app.state.engine,
        credentials.credentials,
        request_actor(request, ""),
        project_id,
        after,
        limit,
        settings,
    )
    return Response(body, media_type="application/json")


def _circulation_page(
    engine: Engine,
    key: str,
    client: Actor,
    project_id: str,
    after: str | None,
    limit: int,
    settings: Settings,
) -> bytes:
    with session_scope(engine) as session:
        org, api_key = organizations.authenticate(session, key=key)
        project = projects.get(session, org=org, project_id=project_id)
        signed, next_cursor = assets.circulation(
            session,
            project=project,
            actor=replace(client, id=api_key.id),
            after=after,
            limit=limit,
            settings=settings,
        )
    items = [{**row._mapping, "url": url.url, "expires_at": url.expires_at} for row, url in signed]
    page = Page[CirculationItem].model_validate({"items": items, "next": next_cursor})
    return page.model_dump_json().encode()


@router.get("/v1/assets/{asset_id}")
def get_asset(asset_id: str, caller: ReaderDep, session: SessionDep) -> AssetDetailRead:
    """An asset's facts, whether it is in circulation (and why not), and its history."""
    asset = assets.get(session, org=caller.org, asset_id=asset_id)
    return _detail(session, asset)


@router.post("/v1/assets/{asset_id}/restore", status_code=status.HTTP_200_OK)
def restore_asset(
    asset_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> AssetDetailRead:
    """Bring a removed asset back into circulation, once a HEAD shows its file unchanged."""
    asset = assets.get(session, org=caller.org, asset_id=asset_id)
    assets.restore(session, org=caller.org, asset=asset, actor=caller.actor, settings=settings)
    return _detail(session, asset)


def _detail(session: Session, asset: Asset) -> AssetDetailRead:
    history = [
        AssetEventRead.model_validate(event) for event in assets.history(session, asset=asset)
    ]
    return AssetDetailRead(**AssetRead.model_validate(asset).model_dump(), history=history)


@router.post("/v1/assets/{asset_id}/report")
def report_asset(
    asset_id: str, caller: ReaderDep, session: SessionDep, settings: SettingsDep
) -> AssetReportRead:
    """A client got 403/404 loading this asset's URL: insitu checks its file with one HEAD,
    and takes the asset out of circulation at once if the file is gone."""
    asset = assets.get(session, org=caller.org, asset_id=asset_id)
    found = assets.report(
        session, org=caller.org, asset=asset, actor=caller.actor, settings=settings
    )
    return AssetReportRead(found=found, status=asset.status, removal_reason=asset.removal_reason)


@router.get("/v1/assets/{asset_id}/url-issues")
def list_asset_url_issues(
    asset_id: str,
    caller: CallerDep,
    session: SessionDep,
    after: AfterQuery = None,
    limit: LimitQuery = 100,
) -> Page[SignedUrlIssueRead]:
    """The audit trail: every signed URL issued for this asset, by which key, until when.

    Admin keys only: it names other keys and the addresses and user agents they came from.
    """
    asset = assets.get(session, org=caller.org, asset_id=asset_id)
    rows, next_cursor = assets.list_url_issues(session, asset=asset, after=after, limit=limit)
    return Page(items=[SignedUrlIssueRead.model_validate(row) for row in rows], next=next_cursor)


@router.get("/v1/assets/{asset_id}/url", responses=UNAVAILABLE_RESPONSES)
async def get_asset_url(
    asset_id: str, request: Request, settings: SettingsDep, credentials: BearerDep
) -> SignedUrlRead:
    """A read-only URL for this one file, straight from the customer's bucket, short-lived."""
    if credentials is None:
        raise no_key_sent()
    # The hottest route (every asset a labeler opens): its blocking work runs in one
    # worker-thread hop instead of one per dependency, which roughly doubles its throughput.
    signed = await on_hot_path(
        request,
        _sign,
        request.app.state.engine,
        credentials.credentials,
        asset_id,
        settings,
        request_actor(request, ""),
    )
    return SignedUrlRead(url=signed.url, expires_at=signed.expires_at)


def _sign(engine: Engine, key: str, asset_id: str, settings: Settings, client: Actor) -> SignedURL:
    with session_scope(engine) as session:
        return assets.sign_url_for_key(
            session,
            key=key,
            asset_id=asset_id,
            settings=settings,
            client_address=client.client_address,
            user_agent=client.user_agent,
        )
