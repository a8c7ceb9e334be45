from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from insitu.api.deps import CallerDep, SessionDep, SettingsDep
from insitu.assets import service as assets
from insitu.assets.schemas import AssetRead, SignedUrlRead
from insitu.projects import service as projects
from insitu.schemas import Page

router = APIRouter(tags=["assets"])


@router.get("/v1/projects/{project_id}/assets")
def list_assets(
    project_id: str,
    caller: CallerDep,
    session: SessionDep,
    status: Annotated[str | None, Query(description="active or removed")] = None,
    after: Annotated[str | None, Query(description="The previous page's `next`.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Page[AssetRead]:
    project = projects.get(session, org=caller.org, project_id=project_id)
    rows, next_cursor = assets.list_for_project(
        session, project=project, status=status, after=after, limit=limit
    )
    return Page(items=[AssetRead.model_validate(row) for row in rows], next=next_cursor)


@router.get("/v1/assets/{asset_id}")
def get_asset(asset_id: str, caller: CallerDep, session: SessionDep) -> AssetRead:
    return AssetRead.model_validate(assets.get(session, org=caller.org, asset_id=asset_id))


@router.get("/v1/assets/{asset_id}/url")
def get_asset_url(
    asset_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> SignedUrlRead:
    """A read-only URL for this one file, straight from the customer's bucket, short-lived."""
    asset = assets.get(session, org=caller.org, asset_id=asset_id)
    signed = assets.sign_url(
        session, org=caller.org, asset=asset, settings=settings, api_key=caller.api_key
    )
    return SignedUrlRead(url=signed.url, expires_at=signed.expires_at)
