"""Where a settings card's action takes a browser.

A card's action names an insitu API route (``CardAction.href``) that answers a client with
JSON; a person in the portal wants to be taken there instead. Each route an action may name
maps to the service call that gives the browser's destination: one line per route, never a
branch on the provider.
"""

from __future__ import annotations

from collections.abc import Callable

from insitu.azure import service as azure
from insitu.config import Settings
from insitu.organizations.models import Organization

BrowserTarget = Callable[[Organization, Settings], str]

BROWSER_TARGETS: dict[str, BrowserTarget] = {
    # Connect to Azure: the tenant admin's sign-in and consent page.
    "/v1/azure/connect": lambda org, settings: azure.consent_link(org, settings=settings).url,
}


def browser_target(href: str) -> BrowserTarget | None:
    return BROWSER_TARGETS.get(href)
