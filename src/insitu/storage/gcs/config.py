"""``GcsConfig``: a GCS connection's settings (the requester-pays project), validated."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from insitu.storage.base import ProviderConfig, provider_config

_PROJECT = re.compile(r"^(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class GcsConfig(ProviderConfig):
    """A GCS connection: only the project billed for requester-pays buckets, if any.

    Who insitu is comes from the server's settings, never from a connection.
    """

    user_project: str | None = Field(
        default=None,
        title="Billing project",
        description="requester-pays buckets only: the project billed for reads",
    )

    @field_validator("user_project")
    @classmethod
    def _is_a_project_id(cls, value: str | None) -> str | None:
        if value is not None and not _PROJECT.match(value):
            raise ValueError(
                f"{value!r} is not a Google Cloud project ID; write it like my-project-123"
            )
        return value


def gcs_config(config: ProviderConfig) -> GcsConfig:
    """``config`` as a ``GcsConfig``, or InvalidConfiguration for another provider's."""
    return provider_config(config, GcsConfig, "gcs")
