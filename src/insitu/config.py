"""Settings: every knob is an ``INSITU_*`` environment variable, read once."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ImportString, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "insitu-development-secret-key-change-me"


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """insitu's configuration; see the README for what each variable does."""

    model_config = SettingsConfigDict(env_prefix="INSITU_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./var/insitu.db"
    job_backend: Literal["inline", "celery"] = "inline"
    celery_broker_url: str = "redis://127.0.0.1:6379/0"
    celery_queue: str = "insitu"
    worker_threads: int = Field(default=2, ge=1, le=64)

    public_url: str = "http://127.0.0.1:8000"
    portal_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"]
    )
    url_ttl_seconds: int = Field(default=900, ge=1, le=7 * 24 * 3600)
    secret_key: str = DEVELOPMENT_SECRET_KEY

    aws_platform_role_template: str | None = None
    # A deployment serving one organization may let it reach storage as insitu's own shared
    # identity (its AWS identity, one GCS service account); with several orgs that would let
    # any of them read a bucket granted to another, so production refuses it unless this says
    # there is only one.
    single_tenant: bool = False
    # Non-public hosts (host, host:port or CIDR) that connections may name as their
    # endpoint: on-prem S3-compatible stores, emulators. Everything else must be public.
    private_endpoints: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # GCS: the service account customers grant (one, or one per org from a template with
    # {org_id} / {org_id_short}); its key file signs URLs locally, else IAM signBlob does.
    gcs_service_account_email: str | None = None
    gcs_service_account_template: str | None = None
    gcs_credentials_file: Path | None = None
    gcs_endpoint: str | None = None
    gcs_iam_endpoint: str = "https://iamcredentials.googleapis.com"
    local_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)

    # Azure: insitu's multi-tenant application; customers consent to it once per tenant.
    # Platform operators' own key, for the few actions no customer org may take alone
    # (e.g. vouching for an Azure tenant whose admin consented out of band).
    operator_key: SecretStr | None = None
    azure_client_id: str | None = None
    azure_client_secret: SecretStr | None = None
    azure_app_name: str = "insitu"
    azure_redirect_url: str | None = None  # default: {public_url}/v1/azure/callback
    azure_authority_host: str = "https://login.microsoftonline.com"
    # Refuse a consent whose ID token lacks the wids claim (needs groupMembershipClaims).
    azure_require_admin_role: bool = False
    # "module:function" returning a TokenCredential for (tenant_id, settings): another identity
    # (e.g. workload identity) in production, an emulator's token in tests.
    azure_credential_factory: ImportString[Callable[..., Any]] | None = None

    # How often each project is reconciled with its buckets (0: never on a schedule).
    reconcile_interval_seconds: int = Field(default=24 * 3600, ge=0)
    import_concurrency: int = Field(default=32, ge=1, le=512)
    import_batch_size: int = Field(default=500, ge=1, le=10_000)
    probe_byte_budget: int = Field(default=4 * 1024 * 1024, ge=1024)
    text_max_bytes: int = Field(default=1024 * 1024, ge=1)

    @field_validator("portal_origins", mode="before")
    @classmethod
    def _origins_from_commas(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("private_endpoints", mode="before")
    @classmethod
    def _endpoints_from_commas(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("local_roots", mode="before")
    @classmethod
    def _roots_from_commas(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("portal_origins")
    @classmethod
    def _origins_are_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not origin.startswith(("http://", "https://")) or origin.rstrip("/").count("/") > 2:
                raise ValueError(
                    f"{origin!r} is not an origin; write scheme://host[:port], "
                    "e.g. https://portal.example.com"
                )
        return [origin.rstrip("/") for origin in origins]

    @model_validator(mode="after")
    def _no_default_secret_in_production(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEVELOPMENT_SECRET_KEY:
            raise ValueError(
                "INSITU_SECRET_KEY is the development default; set it to a long random value "
                '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        return self

    @property
    def shared_identity_allowed(self) -> bool:
        """Whether connections may reach storage as the platform's shared identity."""
        return self.single_tenant or self.environment == "development"

    @property
    def shared_identity_warning(self) -> str | None:
        """Why a shared identity is risky here, when it is allowed only as a development default."""
        if self.single_tenant or self.environment != "development":
            return None
        return (
            "development mode: connections without a per-organization identity reach storage as "
            "insitu's own shared identity, so any organization could read a bucket granted to "
            "it; production refuses this unless INSITU_SINGLE_TENANT=true"
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
