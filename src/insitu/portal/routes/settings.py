"""Organization Settings: self-hosting by default, the portal origins bucket CORS rules must
allow, and every provider's settings card (identities, inputs that fill its documents live,
code blocks to copy or download, actions, connected accounts, connections and their last
Verify access), rendered the same way for any provider."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from insitu.api.deps import SessionDep, SettingsDep
from insitu.errors import InvalidInput, NotFound
from insitu.organizations import onboarding
from insitu.organizations import service as organizations
from insitu.organizations.schemas import OrganizationUpdate
from insitu.portal.actions import browser_target
from insitu.portal.deps import PortalCallerDep, require_csrf
from insitu.portal.pages import is_htmx, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])

ProviderPath = Annotated[str, Path(max_length=32)]
NamePath = Annotated[str, Path(max_length=64)]


@router.get("/settings")
def settings_page(
    request: Request, session: SessionDep, caller: PortalCallerDep, settings: SettingsDep
) -> Response:
    cards = onboarding.settings_cards(session, org=caller.org, settings=settings)
    return render(
        request,
        "settings.html",
        caller=caller,
        portal_origins=settings.portal_origins,
        cards=cards,
    )


@router.post("/settings/self-host")
def set_self_host_default(
    request: Request,
    session: SessionDep,
    caller: PortalCallerDep,
    self_host_default: Annotated[bool, Form()] = False,
) -> Response:
    """Whether the org's new projects are self-hosted unless their request says otherwise."""
    organizations.update(
        session, org=caller.org, changes=OrganizationUpdate(self_host_default=self_host_default)
    )
    if not is_htmx(request):
        return RedirectResponse("/settings", status_code=303)
    return render(request, "_self_host.html", caller=caller, saved=True)


@router.get("/settings/{provider}/card")
def provider_card_body(
    provider: ProviderPath,
    request: Request,
    session: SessionDep,
    caller: PortalCallerDep,
    settings: SettingsDep,
) -> Response:
    """A card's documents filled with what the admin typed in its inputs (htmx, as they type)."""
    inputs = _inputs(request)
    problem: InvalidInput | None = None
    try:
        card = onboarding.settings_card(
            session, org=caller.org, provider=provider, settings=settings, inputs=inputs
        )
    except InvalidInput as exc:  # e.g. a bucket name with a space: say so in the card
        problem, inputs = exc, {}
        card = onboarding.settings_card(
            session, org=caller.org, provider=provider, settings=settings
        )
    return render(
        request, "_card_body.html", caller=caller, card=card, query=_query(inputs), problem=problem
    )


@router.get("/settings/{provider}/files/{name}")
def download_card_file(
    provider: ProviderPath,
    name: NamePath,
    request: Request,
    session: SessionDep,
    caller: PortalCallerDep,
    settings: SettingsDep,
) -> Response:
    """A card's block as the file its instructions name (cors.json, a template...)."""
    file = onboarding.card_file(
        session, org=caller.org, provider=provider, name=name, settings=settings,
        inputs=_inputs(request),
    )  # fmt: skip
    return Response(
        file.content,
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )


@router.get("/settings/{provider}/actions/{name}")
def follow_card_action(
    provider: ProviderPath,
    name: NamePath,
    session: SessionDep,
    caller: PortalCallerDep,
    settings: SettingsDep,
) -> Response:
    """Take the browser where a card's action leads (e.g. Azure's consent page)."""
    card = onboarding.settings_card(session, org=caller.org, provider=provider, settings=settings)
    action = next((a for a in card.actions if a.name == name), None)
    target = browser_target(action.href) if action else None
    if action is None or target is None:
        raise NotFound(
            f"the {card.title} card has no action {name!r} a browser can follow",
            fix="reload Organization Settings and use one of its buttons",
        )
    return RedirectResponse(target(caller.org, settings), status_code=303)


def _inputs(request: Request) -> dict[str, list[str]]:
    inputs: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        if value.strip():
            inputs.setdefault(key, []).append(value)
    return inputs


def _query(inputs: dict[str, list[str]]) -> str:
    return urlencode([(key, value) for key, values in inputs.items() for value in values])
