"""The "Azure" settings card: Connect to Azure, the tenants, the role assignments and CORS."""

from __future__ import annotations

import json
import re

from insitu.storage.azure.advice import (
    DATA_READER,
    DELEGATOR,
    ROLES,
    account_scope,
    cors_command,
    cors_rules,
    role_command,
)
from insitu.storage.cards import (
    CardAction,
    CardBlock,
    CardContext,
    CardFact,
    CardInput,
    SettingsCard,
    checked_one,
)

# The consent flow's start (insitu.api.routes.azure): it answers with the sign-in URL.
CONNECT_PATH = "/v1/azure/connect"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_RESOURCE_GROUP = re.compile(r"^[-\w.()]{0,89}[-\w()]$")
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")


def settings_card(context: CardContext) -> SettingsCard:
    """The org's tenants, and what an admin runs per storage account to let insitu read it."""
    settings = context.settings
    subscription = _one(
        context, "subscription", _GUID, "a subscription ID is a GUID",
        "00000000-0000-0000-0000-000000000000",
    )  # fmt: skip
    group = _one(
        context, "resource_group", _RESOURCE_GROUP,
        "up to 90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'", "my-group",
    )  # fmt: skip
    account = _one(
        context, "storage_account", _ACCOUNT, "3-24 lowercase letters and digits", "myaccount"
    )
    scope = {"subscription": subscription or "SUB", "resource_group": group or "RG"}
    target = account or "ACCOUNT"
    client_id = settings.azure_client_id
    accounts = context.accounts("azure")
    card = SettingsCard(
        provider="azure",
        title="Azure",
        summary=(
            "Connect each Azure tenant once (a tenant admin consents to insitu's application), "
            f"then on each storage account assign the application {DATA_READER} and "
            f"{DELEGATOR} at the storage account level: container level is not enough, as "
            "the user-delegation key that signs URLs is an account-level operation."
        ),
        facts=[
            CardFact("application_name", "Application", settings.azure_app_name),
            CardFact("application_client_id", "Application (client) ID", client_id),
            CardFact("roles", "Roles to assign", ", ".join(ROLES), copyable=False),
        ],
        inputs=[
            CardInput("subscription", "Subscription ID", "SUB", _given(subscription)),
            CardInput("resource_group", "Resource group", "RG", _given(group)),
            CardInput("storage_account", "Storage account", "ACCOUNT", _given(account)),
        ],
        blocks=[
            CardBlock(
                "role_assignments",
                f"Assign {DATA_READER} and {DELEGATOR} on the storage account",
                "shell",
                "\n".join(role_command(settings, role, target, **scope) for role in ROLES),
                f"The scope is the storage account ({account_scope(target, **scope)}); "
                f"'az storage account show --name {target} --query id -o tsv' prints it. New "
                "role assignments take a few minutes to apply.",
            ),
            CardBlock(
                "cors",
                "Blob service CORS rule",
                "json",
                json.dumps(cors_rules(context.portal_origins), indent=2),
                "The rule as the portal's Resource sharing (CORS) > Blob service page shows it.",
            ),
            CardBlock(
                "cors_command",
                "Apply the CORS rule",
                "shell",
                cors_command(context.portal_origins, target),
            ),
        ],
        actions=[CardAction("connect", "Connect to Azure", CONNECT_PATH)],
        accounts=accounts,
    )
    if not client_id:
        card.warnings.append(
            "This server has no Azure application (INSITU_AZURE_CLIENT_ID and "
            "INSITU_AZURE_CLIENT_SECRET are unset): Connect to Azure fails until its operator "
            "registers one."
        )
    if not accounts:
        card.warnings.append(
            "No Azure tenant is connected yet: a tenant admin uses Connect to Azure first, or "
            f"the application {settings.azure_app_name!r} cannot be assigned roles."
        )
    return card


def _one(
    context: CardContext, name: str, pattern: re.Pattern[str], rule: str, example: str
) -> str | None:
    return checked_one(
        context, name, lambda value: None if pattern.match(value) else rule, example=example
    )


def _given(value: str | None) -> tuple[str, ...]:
    return (value,) if value else ()
