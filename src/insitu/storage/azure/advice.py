"""What a customer does in Azure for insitu, as text: role assignments, consent, CORS.

Shared by the provider's fixes and the org's "Connect to Azure" settings; imports no SDK.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from insitu.config import Settings

# ProviderContext.extra key: a callable returning the tenant IDs the org has connected.
TENANTS = "azure_tenants"
DATA_READER = "Storage Blob Data Reader"
DELEGATOR = "Storage Blob Delegator"
ROLES = (DATA_READER, DELEGATOR)


def app_label(settings: Settings) -> str:
    client_id = settings.azure_client_id or "APP_CLIENT_ID"
    return f"insitu's application {settings.azure_app_name!r} (client ID {client_id})"


def account_scope(
    account: str = "ACCOUNT", *, subscription: str = "SUB", resource_group: str = "RG"
) -> str:
    """The Azure resource ID of a storage account: the scope of insitu's role assignments."""
    return (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
        f"Microsoft.Storage/storageAccounts/{account}"
    )


def role_command(
    settings: Settings,
    role: str,
    account: str = "ACCOUNT",
    *,
    subscription: str = "SUB",
    resource_group: str = "RG",
) -> str:
    """The ``az role assignment create`` granting insitu's app ``role`` on ``account``."""
    scope = account_scope(account, subscription=subscription, resource_group=resource_group)
    return (
        f"az role assignment create --assignee {settings.azure_client_id or 'APP_CLIENT_ID'} "
        f'--role "{role}" --scope {shlex.quote(scope)}'
    )


def role_fix(settings: Settings, role: str, account: str) -> str:
    scope_note = (
        "at the storage account level, not the container level (a user-delegation key is an "
        "account-level operation)"
        if role == DELEGATOR
        else "on the storage account (or the container)"
    )
    return (
        f"assign {app_label(settings)} the {role} role {scope_note}:\n"
        f"{role_command(settings, role, account)}\n"
        f"(the scope is printed by: az storage account show --name {account} --query id -o tsv;"
        " new role assignments take a few minutes to apply)"
    )


def consent_fix(settings: Settings, tenant_id: str) -> str:
    return (
        f"connect tenant {tenant_id} to insitu first: an admin of that tenant opens the URL "
        "from GET /v1/azure/connect and grants consent (or checks it under Enterprise "
        f"applications for {settings.azure_app_name!r})"
    )


def cors_rules(origins: Sequence[str]) -> list[dict[str, Any]]:
    """The blob-service CORS rule (as the portal's 'Resource sharing (CORS)' page shows it)."""
    return [
        {
            "AllowedOrigins": list(origins),
            "AllowedMethods": ["GET", "HEAD"],
            "AllowedHeaders": ["*"],
            "ExposedHeaders": ["*"],
            "MaxAgeInSeconds": 3600,
        }
    ]


def cors_command(origins: Sequence[str], account: str) -> str:
    return (
        "az storage cors add --services b --methods GET HEAD "
        f"--origins {' '.join(origins)} --allowed-headers '*' --exposed-headers '*' "
        f"--max-age 3600 --account-name {account}"
    )
