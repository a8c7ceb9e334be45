from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from insitu.api.deps import CallerDep, SessionDep, SettingsDep
from insitu.organizations import aws
from insitu.organizations import service as organizations
from insitu.organizations.schemas import AwsSettingsRead, OrganizationRead, OrganizationUpdate

router = APIRouter(prefix="/v1/organization", tags=["organization"])


@router.get("")
def get_organization(caller: CallerDep) -> OrganizationRead:
    return OrganizationRead.model_validate(caller.org)


@router.patch("")
def update_organization(
    changes: OrganizationUpdate, caller: CallerDep, session: SessionDep
) -> OrganizationRead:
    org = organizations.update(session, org=caller.org, changes=changes)
    return OrganizationRead.model_validate(org)


@router.get("/aws")
def get_aws_settings(
    caller: CallerDep,
    settings: SettingsDep,
    bucket: Annotated[str | None, Query(description="Bucket to write the policy for.")] = None,
) -> AwsSettingsRead:
    """The org's platform role, external ID, and the policies to apply in the customer's AWS."""
    return aws.settings_for(caller.org, settings=settings, bucket=bucket)
