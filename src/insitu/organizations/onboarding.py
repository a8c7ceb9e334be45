"""Each provider's settings card for an organization, built through the provider boundary.

The service gathers what any provider may need (the org's external ID, the server's settings,
the connected accounts of every source) without asking which provider it is; the provider
decides what its card shows. The API and the portal render the result the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from urllib.parse import quote, urlencode

from sqlalchemy.orm import Session

from insitu.azure import service as azure_tenants
from insitu.config import Settings
from insitu.connections import service as connections
from insitu.errors import InvalidInput, NotFound
from insitu.organizations import service as organizations
from insitu.organizations.models import Organization
from insitu.organizations.schemas import (
    CardAccountRead,
    CardActionRead,
    CardBlockRead,
    CardFactRead,
    CardInputRead,
    ProviderSettingsRead,
)
from insitu.storage.cards import ACCOUNTS, CardAccount, CardContext, SettingsCard
from insitu.storage.registry import get_provider

AccountLookup = Callable[[], Mapping[str, Sequence[CardAccount]]]
# Where connected accounts come from (each says for which provider): a domain package per
# source. Adding one is a line here, never a branch on the provider.
ACCOUNT_SOURCES: tuple[Callable[[Organization], AccountLookup], ...] = (
    azure_tenants.card_accounts,
)
MEDIA_TYPES = {
    "yaml": "application/yaml",
    "json": "application/json",
    "shell": "text/x-shellscript",
    "text": "text/plain",
}

Inputs = Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True)
class CardFile:
    """A downloadable block of a card."""

    filename: str
    media_type: str
    content: str


def settings_card(
    session: Session,
    *,
    org: Organization,
    provider: str,
    settings: Settings,
    inputs: Inputs | None = None,
) -> ProviderSettingsRead:
    """``provider``'s card for ``org``, its documents filled with ``inputs`` (by input name)."""
    inputs = inputs or {}
    card = _card(org, provider=provider, settings=settings, inputs=inputs)
    query = urlencode([(name, value) for name, values in inputs.items() for value in values])
    return ProviderSettingsRead(
        provider=card.provider,
        title=card.title,
        summary=card.summary,
        facts=[CardFactRead(**asdict(fact)) for fact in card.facts],
        inputs=[
            CardInputRead(**{**asdict(field), "values": list(field.values)})
            for field in card.inputs
        ],
        blocks=[
            CardBlockRead(
                **asdict(block),
                download_url=(
                    f"/v1/organization/{quote(provider)}/files/{quote(block.name)}"
                    + (f"?{query}" if query else "")
                    if block.filename
                    else None
                ),
            )
            for block in card.blocks
        ],
        actions=[CardActionRead(**asdict(action)) for action in card.actions],
        accounts=[CardAccountRead(**asdict(account)) for account in card.accounts],
        warnings=list(card.warnings),
        portal_origins=list(settings.portal_origins),
        connections=[
            connections.read(connection, settings=settings)
            for connection in connections.list_for_org(session, org=org, provider=card.provider)
        ],
    )


def settings_cards(
    session: Session, *, org: Organization, settings: Settings
) -> list[ProviderSettingsRead]:
    """The card of each provider ``org`` may import from, without inputs (the settings page).

    A local directory's card (the server's own paths) shows only once the operator connected
    one for this org, as the Data Imports tab offers it.
    """
    offered = connections.choices(session, org=org, settings=settings)
    return [
        settings_card(session, org=org, provider=choice.provider.name, settings=settings)
        for choice in offered
    ]


def card_file(
    session: Session,
    *,
    org: Organization,
    provider: str,
    name: str,
    settings: Settings,
    inputs: Inputs | None = None,
) -> CardFile:
    """The block ``name`` of ``provider``'s card as a file, filled with ``inputs``."""
    card = _card(org, provider=provider, settings=settings, inputs=inputs or {})
    block = card.block(name)
    downloadable = [block.name for block in card.blocks if block.filename]
    if block is None or block.filename is None:
        hint = (
            f"download one of: {', '.join(downloadable)}"
            if downloadable
            else "fill in the card's inputs first (e.g. ?bucket=my-bucket)"
        )
        raise NotFound(
            f"the {provider} settings card has no downloadable {name!r} with these inputs",
            fix=hint + f"; GET /v1/organization/{provider} lists the blocks",
        )
    return CardFile(block.filename, MEDIA_TYPES[block.language], block.content)


def _card(org: Organization, *, provider: str, settings: Settings, inputs: Inputs) -> SettingsCard:
    context = CardContext(
        settings=settings,
        org_id=org.id,
        external_id=organizations.external_id(org, settings=settings),
        inputs=inputs,
        extra={ACCOUNTS: _accounts(org)},
    )
    card = get_provider(provider).settings_card(context)
    known = {field.name for field in card.inputs}
    unknown = sorted(set(inputs) - known)
    if unknown:
        raise InvalidInput(
            f"the {provider} settings card has no input {', '.join(map(repr, unknown))}",
            fix=f"use only: {', '.join(sorted(known)) or 'no parameters'}",
        )
    return card


def _accounts(org: Organization) -> AccountLookup:
    lookups = [source(org) for source in ACCOUNT_SOURCES]

    def accounts() -> dict[str, list[CardAccount]]:
        merged: dict[str, list[CardAccount]] = {}
        for lookup in lookups:
            for provider, found in lookup().items():
                merged.setdefault(provider, []).extend(found)
        return merged

    return accounts
