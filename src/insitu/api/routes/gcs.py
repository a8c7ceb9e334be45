from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from insitu.api.deps import CallerDep, SettingsDep
from insitu.organizations import gcs
from insitu.organizations.schemas import GcsSettingsRead

router = APIRouter(prefix="/v1/organization", tags=["organization"])


@router.get("/gcs")
def get_gcs_settings(
    caller: CallerDep,
    settings: SettingsDep,
    bucket: Annotated[
        str | None, Query(description="Bucket to write the grant for (without gs://).")
    ] = None,
) -> GcsSettingsRead:
    """The service account to grant on the customer's bucket, the role, and the gcloud command."""
    return gcs.settings_for(caller.org, settings=settings, bucket=bucket)
