from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from insitu.schemas import DisplayName

KNOWN_KINDS = ("image", "video", "audio", "text", "dicom", "pdf")


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: DisplayName
    self_hosted: bool | None = Field(
        default=None, description="Defaults to the organization's self_host_default."
    )
    allowed_kinds: list[str] | None = Field(
        default=None, description=f"Media kinds to accept, of {', '.join(KNOWN_KINDS)}."
    )
    import_new_files: bool = Field(
        default=True,
        description="Whether a reconcile imports files that appear under the import prefixes.",
    )

    @field_validator("allowed_kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str] | None) -> list[str] | None:
        if kinds is None:
            return None
        unknown = sorted(set(kinds) - set(KNOWN_KINDS))
        if unknown:
            raise ValueError(f"unknown media kinds {unknown}; use any of {list(KNOWN_KINDS)}")
        return sorted(set(kinds))


class ProjectRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    self_hosted: bool
    allowed_kinds: list[str] | None
    import_new_files: bool
    created_at: datetime
