from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from insitu.api.deps import CallerDep, SessionDep, SettingsDep
from insitu.organizations import onboarding
from insitu.organizations import service as organizations
from insitu.organizations.schemas import (
    OrganizationRead,
    OrganizationUpdate,
    ProviderSettingsRead,
)
from insitu.storage.registry import provider_names

router = APIRouter(prefix="/v1/organization", tags=["organization"])

ProviderPath = Annotated[
    str, Path(max_length=32, description=f"One of {', '.join(provider_names())}.")
]
# Each card declares its own inputs (bucket, storage_account, ...), so they are read from
# the query string as given; unknown names are refused with the card's list.
INPUTS_NOTE = (
    "The card's inputs are query parameters named as its `inputs` list them, e.g. "
    "`?bucket=a&bucket=b` for s3 and gcs, `?subscription=&resource_group=&storage_account=` "
    "for azure."
)


def _inputs(request: Request) -> dict[str, list[str]]:
    inputs: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        inputs.setdefault(name, []).append(value)
    return inputs


@router.get("")
def get_organization(caller: CallerDep) -> OrganizationRead:
    return OrganizationRead.model_validate(caller.org)


@router.patch("")
def update_organization(
    changes: OrganizationUpdate, caller: CallerDep, session: SessionDep
) -> OrganizationRead:
    org = organizations.update(session, org=caller.org, changes=changes)
    return OrganizationRead.model_validate(org)


@router.get("/{provider}", description=INPUTS_NOTE)
def get_provider_settings(
    provider: ProviderPath,
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
) -> ProviderSettingsRead:
    """What the org applies in ``provider``'s cloud: identities, documents, commands, status."""
    return onboarding.settings_card(
        session, org=caller.org, provider=provider, settings=settings, inputs=_inputs(request)
    )


@router.get(
    "/{provider}/files/{name}",
    description=INPUTS_NOTE,
    response_class=Response,
    responses={200: {"content": {mime: {} for mime in onboarding.MEDIA_TYPES.values()}}},
)
def download_provider_file(
    provider: ProviderPath,
    name: Annotated[str, Path(max_length=64)],
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """A downloadable block of the card, e.g. ``/v1/organization/s3/files/cloudformation``."""
    file = onboarding.card_file(
        session,
        org=caller.org,
        provider=provider,
        name=name,
        settings=settings,
        inputs=_inputs(request),
    )
    return Response(
        file.content,
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )
