"""What each provider shows in an organization's settings: one neutral shape for every cloud.

A provider builds a :class:`SettingsCard` from a :class:`CardContext` (who the org is, what
the server is configured with, what the admin typed in the card's inputs); the API and the
portal render any card the same way, so neither holds provider-specific code. Like the rest
of the boundary, this module imports neither FastAPI nor the ORM.

Shape of a card::

    SettingsCard
      provider, title, summary
      facts    [CardFact(name, label, value, copyable)]         identities to copy
      inputs   [CardInput(name, label, placeholder, values, multiple, help)]
      blocks   [CardBlock(name, title, language, content, filename, explanation, copyable)]
      actions  [CardAction(name, label, href, method)]            e.g. Connect to Azure
      accounts [CardAccount(id, label, detail)]                   e.g. connected Azure tenants
      warnings [str]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from insitu.errors import InvalidInput

if TYPE_CHECKING:
    from insitu.config import Settings

Language = Literal["json", "shell", "yaml", "text"]

# CardContext.extra key: a callable returning the connected accounts (CardAccount) a provider
# lists, keyed by provider name, e.g. {"azure": [CardAccount("tenant ...", "consented ...")]}.
ACCOUNTS = "connected_accounts"


@dataclass(frozen=True, slots=True)
class CardFact:
    """A value the customer copies into its cloud, e.g. the org's external ID."""

    name: str
    label: str
    value: str | None
    copyable: bool = True


@dataclass(frozen=True, slots=True)
class CardInput:
    """A field the admin fills in; the card's blocks are rebuilt with its values."""

    name: str
    label: str
    placeholder: str
    values: tuple[str, ...] = ()
    multiple: bool = False
    help: str = ""


@dataclass(frozen=True, slots=True)
class CardBlock:
    """A document or command to apply, shown as a code block (``filename``: downloadable)."""

    name: str
    title: str
    language: Language
    content: str
    explanation: str = ""
    filename: str | None = None
    copyable: bool = True


@dataclass(frozen=True, slots=True)
class CardAction:
    """A button: ``href`` is an insitu API path (e.g. the Azure consent start)."""

    name: str
    label: str
    href: str
    method: str = "GET"


@dataclass(frozen=True, slots=True)
class CardAccount:
    """Something of the customer's already connected to insitu (e.g. an Azure tenant)."""

    id: str
    label: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SettingsCard:
    """Everything a provider's settings card shows for one organization."""

    provider: str
    title: str
    summary: str
    facts: list[CardFact] = field(default_factory=list)
    inputs: list[CardInput] = field(default_factory=list)
    blocks: list[CardBlock] = field(default_factory=list)
    actions: list[CardAction] = field(default_factory=list)
    accounts: list[CardAccount] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def block(self, name: str) -> CardBlock | None:
        return next((block for block in self.blocks if block.name == name), None)

    def fact(self, name: str) -> CardFact | None:
        return next((fact for fact in self.facts if fact.name == name), None)


@dataclass(frozen=True)
class CardContext:
    """What a provider may know when building an org's card; nothing of the database."""

    settings: Settings
    org_id: str
    external_id: str
    # The values the admin typed, by input name (several for a multiple input).
    inputs: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # Lookups the service layer gathered without knowing which provider asks (see ACCOUNTS).
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def portal_origins(self) -> list[str]:
        return list(self.settings.portal_origins)

    def values(self, name: str) -> list[str]:
        """The values typed for input ``name``: stripped, blanks dropped, commas split."""
        found: list[str] = []
        for raw in self.inputs.get(name, ()):
            found += [part.strip() for part in re.split(r"[,\s]+", raw) if part.strip()]
        return list(dict.fromkeys(found))

    def value(self, name: str) -> str | None:
        values = self.values(name)
        return values[0] if values else None

    def accounts(self, provider: str) -> list[CardAccount]:
        lookup: Callable[[], Mapping[str, Sequence[CardAccount]]] | None = self.extra.get(ACCOUNTS)
        return list(lookup().get(provider, ())) if lookup else []


def checked(
    context: CardContext,
    name: str,
    problem: Callable[[str], str | None],
    *,
    example: str,
    clean: Callable[[str], str] = lambda value: value,
) -> list[str]:
    """The values of input ``name``, each refused (InvalidInput, saying why) if ``problem``."""
    values = [clean(value) for value in context.values(name)]
    for value in values:
        reason = problem(value)
        if reason:
            raise InvalidInput(
                f"{value[:100]!r} is not a valid {name}: {reason}",
                fix=f"type only the {name}'s name, e.g. {example}",
            )
    return values


def checked_one(
    context: CardContext,
    name: str,
    problem: Callable[[str], str | None],
    *,
    example: str,
) -> str | None:
    """The one value of input ``name`` (None if blank), checked as ``checked`` does.

    Two values (``my group`` typed for a resource group) are refused rather than the first kept:
    a command silently filled with half of what was typed would grant the wrong resource.
    """
    values = checked(context, name, problem, example=example)
    if len(values) > 1:
        raise InvalidInput(
            f"{name} takes one value, and {len(values)} were given: "
            + ", ".join(repr(value[:100]) for value in values[:3]),
            fix=f"type only one {name}, e.g. {example}",
        )
    return values[0] if values else None
