"""Connect to Azure: admin consent per tenant, and the org's connected tenants."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import HTMLResponse

from insitu.api.deps import CallerDep, OperatorDep, SessionDep, SettingsDep
from insitu.azure import service as azure
from insitu.azure.schemas import AzureConnectRead, AzureTenantCreate, AzureTenantRead
from insitu.errors import OperatorOnly
from insitu.organizations import onboarding
from insitu.organizations import service as organizations
from insitu.portal.pages import templates

router = APIRouter(tags=["azure"])


@router.get("/v1/azure/connect")
def connect_azure(caller: CallerDep, settings: SettingsDep) -> AzureConnectRead:
    """The sign-in-and-consent URL of insitu's application, with a signed state for this org."""
    return azure.consent_link(caller.org, settings=settings)


@router.get("/v1/azure/callback", response_model=AzureTenantRead)
def azure_callback(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    state: Annotated[str, Query(max_length=2000)],
    code: Annotated[str | None, Query(max_length=8000)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=2000)] = None,
) -> AzureTenantRead | HTMLResponse:
    """Where Azure sends the admin back; the signed state (not a key) says which org.

    The tenant recorded is the one in the ID token insitu gets for ``code`` from Entra ID;
    a ``tenant`` or ``admin_consent`` in the query is not evidence and is ignored. A browser
    gets a page saying what is connected and which roles to assign next.
    """
    row = azure.complete_consent(
        session,
        state=state,
        code=code,
        error=error,
        error_description=error_description,
        settings=settings,
    )
    tenant_read = AzureTenantRead.model_validate(row)
    if "text/html" in request.headers.get("accept", ""):
        org = organizations.get(session, org_id=row.org_id)
        context = {
            "tenant": tenant_read,
            "org": org,
            "card": onboarding.settings_card(session, org=org, provider="azure", settings=settings),
        }
        return templates.TemplateResponse(request, "azure_connected.html", context)
    return tenant_read


@router.post("/v1/organization/azure/tenants", status_code=status.HTTP_201_CREATED)
def add_azure_tenant(
    data: AzureTenantCreate,
    caller: CallerDep,
    session: SessionDep,
    response: Response,
    operator: OperatorDep,
) -> AzureTenantRead:
    """Operators only: record a tenant whose admin consented out of band (200 if known).

    An org's own key is not enough: whoever holds a tenant's record can read every storage
    account that tenant opened to insitu, so only the consent flow or an operator grants it.
    """
    if not operator:
        raise OperatorOnly(
            "only a platform operator may register an Azure tenant by hand",
            fix="have the tenant's admin use GET /v1/azure/connect, or ask the operator to run "
            "'insitu azure tenant add' (or send X-Insitu-Operator-Key: INSITU_OPERATOR_KEY)",
        )
    before = {row.tenant_id for row in azure.list_tenants(session, org_id=caller.org.id)}
    row = azure.add_tenant(session, org=caller.org, tenant_id=data.tenant_id)
    if data.tenant_id in before:
        response.status_code = status.HTTP_200_OK
    return AzureTenantRead.model_validate(row)


@router.get("/v1/organization/azure/tenants")
def list_azure_tenants(caller: CallerDep, session: SessionDep) -> list[AzureTenantRead]:
    """The Azure tenants the org connected (its Azure settings card lists them too)."""
    rows = azure.list_tenants(session, org_id=caller.org.id)
    return [AzureTenantRead.model_validate(row) for row in rows]


@router.get("/v1/organization/azure/tenants/{tenant_id}")
def get_azure_tenant(tenant_id: str, caller: CallerDep, session: SessionDep) -> AzureTenantRead:
    row = azure.get_tenant(session, org=caller.org, tenant_id=tenant_id)
    return AzureTenantRead.model_validate(row)
