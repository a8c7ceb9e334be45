"""Connect to Azure: admin consent per tenant, and the org's connected tenants."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from insitu.api.deps import CallerDep, SessionDep, SettingsDep
from insitu.azure import service as azure
from insitu.azure.schemas import (
    AzureConnectRead,
    AzureSettingsRead,
    AzureTenantCreate,
    AzureTenantRead,
)

router = APIRouter(tags=["azure"])


@router.get("/v1/azure/connect")
def connect_azure(caller: CallerDep, settings: SettingsDep) -> AzureConnectRead:
    """The admin-consent URL of insitu's application, with a signed state for this org."""
    return azure.consent_link(caller.org, settings=settings)


@router.get("/v1/azure/callback")
def azure_callback(
    session: SessionDep,
    settings: SettingsDep,
    state: Annotated[str, Query(max_length=2000)],
    tenant: Annotated[str | None, Query(max_length=100)] = None,
    admin_consent: Annotated[str | None, Query(max_length=10)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=2000)] = None,
) -> AzureTenantRead:
    """Where Azure sends the admin back; the signed state (not a key) says which org."""
    row = azure.complete_consent(
        session,
        state=state,
        tenant=tenant,
        admin_consent=admin_consent,
        error=error,
        error_description=error_description,
        settings=settings,
    )
    return AzureTenantRead.model_validate(row)


@router.get("/v1/organization/azure")
def get_azure_settings(
    caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> AzureSettingsRead:
    """The org's tenants, and the application to assign roles to in each storage account."""
    return azure.settings_for(session, org=caller.org, settings=settings)


@router.post("/v1/organization/azure/tenants", status_code=status.HTTP_201_CREATED)
def add_azure_tenant(
    data: AzureTenantCreate, caller: CallerDep, session: SessionDep, response: Response
) -> AzureTenantRead:
    """Record a tenant whose admin consented out of band (200 if it was already recorded)."""
    before = {row.tenant_id for row in azure.list_tenants(session, org_id=caller.org.id)}
    row = azure.add_tenant(session, org=caller.org, tenant_id=data.tenant_id)
    if data.tenant_id in before:
        response.status_code = status.HTTP_200_OK
    return AzureTenantRead.model_validate(row)


@router.get("/v1/organization/azure/tenants/{tenant_id}")
def get_azure_tenant(tenant_id: str, caller: CallerDep, session: SessionDep) -> AzureTenantRead:
    row = azure.get_tenant(session, org=caller.org, tenant_id=tenant_id)
    return AzureTenantRead.model_validate(row)
