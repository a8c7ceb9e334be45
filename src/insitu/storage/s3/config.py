"""``S3Config``: an S3 connection's settings (mode, role, region, endpoint, keys), validated."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)

from insitu.storage.base import ProviderConfig, provider_config
from insitu.storage.s3.policies import ROLE_ARN_PATTERN
from insitu.storage.s3.queues import QueueAddress, parse_queue_url

_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


class S3Events(BaseModel):
    """Where the bucket's event notifications arrive: a standard SQS queue insitu may read."""

    model_config = ConfigDict(extra="forbid")

    sqs_queue_url: str

    @field_validator("sqs_queue_url")
    @classmethod
    def _is_a_queue_url(cls, value: str) -> str:
        parse_queue_url(value, region="us-east-1")  # raises ValueError saying what is wrong
        return value


class S3Config(ProviderConfig):
    """An S3 connection: how insitu gets access, and where the store is."""

    # Own keys are for one store, in the mode that signs with them.
    secrets_follow = ("endpoint_url", "mode")

    # Titles and descriptions are what the portal's New connection form shows.
    mode: Literal["platform_role", "customer_role"] = Field(
        default="platform_role",
        title="Access mode",
        description="Platform role (platform_role): your bucket policy grants insitu's role. "
        "Customer role (customer_role): insitu assumes a role you created, with your "
        "organization's external ID",
    )
    role_arn: str | None = Field(
        default=None,
        title="Role ARN",
        description="Customer role only: e.g. arn:aws:iam::123456789012:role/insitu-reader",
    )
    external_id: str | None = Field(
        default=None,
        title="External ID",
        description="Customer role only; insitu sends your organization's (Organization Settings)",
    )
    region: str = Field(default="us-east-1", title="Region", description="e.g. eu-west-1")
    endpoint_url: str | None = Field(
        default=None,
        title="Endpoint URL",
        description="S3-compatible stores only (MinIO, Ceph, R2), e.g. https://minio.example.com",
    )
    # The connection's own keys (an S3-compatible store's, or an IAM user's the org created):
    # requests are signed with them instead of insitu's AWS identity. Secret: stored
    # encrypted with the connection, never shown (``public()`` leaves them out).
    access_key_id: SecretStr | None = Field(
        default=None, title="Access key ID", description="S3-compatible stores' own keys only"
    )
    secret_access_key: SecretStr | None = Field(default=None, title="Secret access key")
    # The SQS queue the bucket's event notifications go to, for watched prefixes.
    events: S3Events | None = None

    @property
    def queue(self) -> QueueAddress | None:
        """The event queue, parsed (None without ``events``)."""
        if self.events is None:
            return None
        return parse_queue_url(self.events.sqs_queue_url, region=self.region)

    @property
    def has_own_keys(self) -> bool:
        """Whether requests are signed with the connection's own access keys."""
        return self.access_key_id is not None

    @field_serializer("access_key_id", "secret_access_key", when_used="json")
    def _reveal_for_storage(self, value: SecretStr | None) -> str | None:
        # JSON dumps are what the connection service encrypts into its settings column; keep
        # the key itself there (pydantic would write "**********"). Shown settings go through
        # ``public()``, which leaves secret fields out.
        return value.get_secret_value() if value is not None else None

    @field_validator("role_arn")
    @classmethod
    def _role_arn_is_a_role(cls, value: str | None) -> str | None:
        if value is not None and not ROLE_ARN_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not an IAM role ARN; write it like "
                "arn:aws:iam::123456789012:role/insitu-reader"
            )
        return value

    @field_validator("region")
    @classmethod
    def _region_is_a_region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError(f"{value!r} is not a region name; write it like eu-west-1")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_is_a_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        problem = None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "it must be http(s)://host[:port]"
        elif parts.username or parts.password:
            problem = "it must not contain credentials"
        elif parts.query or parts.fragment:
            problem = "it must not have a query or fragment"
        if problem:
            raise ValueError(
                f"endpoint_url {value!r} is invalid: {problem}, e.g. https://minio.example.com:9000"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _role_matches_mode(self) -> S3Config:
        if self.mode == "customer_role" and not self.role_arn:
            raise ValueError(
                "customer_role mode needs role_arn, the ARN of the role insitu assumes, "
                "e.g. arn:aws:iam::123456789012:role/insitu-reader"
            )
        keys = [self.access_key_id, self.secret_access_key]
        if any(keys) and not all(key and key.get_secret_value().strip() for key in keys):
            raise ValueError(
                "access_key_id and secret_access_key go together: set both (the store's "
                "access key and its secret) or neither"
            )
        if self.mode == "customer_role" and self.has_own_keys:
            raise ValueError(
                "a customer_role connection signs with the assumed role, not with its own keys; "
                "remove access_key_id and secret_access_key, or drop mode customer_role"
            )
        if self.mode == "platform_role" and (self.role_arn or self.external_id):
            raise ValueError(
                "role_arn and external_id are only used in customer_role mode; "
                "remove them or set mode to customer_role"
            )
        return self


def s3_config(config: ProviderConfig) -> S3Config:
    """``config`` as an ``S3Config``, or InvalidConfiguration for another provider's settings."""
    return provider_config(config, S3Config, "s3")
