"""Settings: every knob is an ``INSITU_*`` environment variable, read once."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ImportString, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from insitu.security import GOOD_SECRET_KEY_COMMAND, secret_key_weakness

DEVELOPMENT_SECRET_KEY = "insitu-development-secret-key-change-me"


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """insitu's configuration; see the README for what each variable does."""

    # Errors never echo the input: it holds the secret keys.
    model_config = SettingsConfigDict(
        env_prefix="INSITU_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

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
    # How long a portal sign-in lasts; revoking or expiring its API key ends it sooner.
    portal_session_hours: float = Field(default=8.0, gt=0, le=30 * 24)
    secret_key: str = DEVELOPMENT_SECRET_KEY
    # A keyring for rotation, newest first: the first key encrypts and signs, every key
    # decrypts and verifies. After validation it is never empty (INSITU_SECRET_KEY alone is a
    # one-key ring) and secret_key is its first key.
    secret_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Denied requests are audited, but no faster than this per client address (and in all):
    # beyond it they are only counted, so a flood of bad keys cannot flood the audit log.
    audit_denials_per_minute: int = Field(default=60, ge=0)
    audit_denials_per_minute_total: int = Field(default=1200, ge=0)

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
    # How often each connection in use is verified against a few of its own objects (0: never).
    health_interval_seconds: int = Field(default=3600, ge=0)
    # Webhooks: how long one delivery attempt may take, the delays between attempts (the last
    # one repeats) and how long a delivery is retried before it is given up as failed.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_retry_seconds: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [30.0, 120.0, 600.0, 3600.0, 3 * 3600.0, 6 * 3600.0]
    )
    webhook_retry_window_seconds: float = Field(default=24 * 3600, gt=0)
    # How often ``insitu serve`` looks for deliveries due (a retry, or one whose first send
    # was lost with a restart); 0 turns the sweep off.
    webhook_sweep_seconds: float = Field(default=15.0, ge=0)
    # Storage events: how long one receive waits for a message (SQS allows up to 20 s), how
    # long a consumer's hold on a queue lasts unless renewed, how often each server looks for
    # watched queues without a consumer, and (Celery) how long one task consumes before it
    # hands over to the next. A lease far above the wait lets a renewal be late.
    events_wait_seconds: int = Field(default=20, ge=0, le=20)
    events_lease_seconds: int = Field(default=90, ge=5)
    events_check_seconds: float = Field(default=10.0, gt=0)
    events_task_seconds: int = Field(default=300, ge=1)
    # Rate limits, counted by each server process alone (in-process token buckets): with N
    # processes a client may get up to N times these. Requests per second, with bursts of up
    # to two seconds' worth; 0 turns a limit off. The defaults let one labeling tool fetch
    # well over 1,000 signed URLs a second with one key.
    rate_limit_per_key: float = Field(default=2000.0, ge=0)
    rate_limit_per_address: float = Field(default=5000.0, ge=0)
    # Failed authentications (bad API or operator keys) one client address may make per
    # minute; past that, every request from it is refused until the minute is over.
    auth_failures_per_minute: int = Field(default=10, ge=0)
    # Imports of one org running at once; the rest wait queued and start as slots free up.
    max_running_imports_per_org: int = Field(default=4, ge=1, le=1000)

    # Probes one import keeps in flight. A cloud bucket answers in tens of milliseconds, so
    # it takes hundreds in flight to keep one core busy; a nearby store is not slowed by it.
    import_concurrency: int = Field(default=256, ge=1, le=1024)
    # Requests this process keeps in flight to one bucket, over all its imports and
    # reconciles; halved (down to 4) while the store throttles, regained as it recovers.
    store_max_in_flight: int = Field(default=256, ge=1, le=4096)
    # An import is listed by one lister into batches of this many keys, which any worker
    # probes and writes; at most import_max_pending_batches of one import wait or run at once
    # (the lister pauses until batches finish), so the queue stays bounded.
    import_batch_size: int = Field(default=1000, ge=1, le=10_000)
    import_max_pending_batches: int = Field(default=16, ge=1, le=10_000)
    # Top-level folders of a source listed at once by its lister.
    import_list_concurrency: int = Field(default=4, ge=1, le=64)
    # A lister's or a batch's hold on its work; renewed while it works. When it lapses (its
    # worker died), the sweep, every import_sweep_seconds, hands the work to another worker.
    # Short enough that a killed worker's work is taken up within a minute even when it
    # comes back at once: a lapsed batch or paused lister after lease + sweep (about 32 s),
    # a batch whose message died with a worker (queued, unacked) after 2 x lease + sweep.
    import_lease_seconds: float = Field(default=20.0, gt=0)
    import_sweep_seconds: float = Field(default=10.0, gt=0)
    # A batch (or a listing) the store throttles or cannot answer is tried again this many
    # times, waiting import_retry_base_seconds, doubling up to import_retry_max_seconds, with
    # jitter; only then are its files recorded as failures.
    import_retry_attempts: int = Field(default=12, ge=1, le=1000)
    import_retry_base_seconds: float = Field(default=2.0, ge=0)
    import_retry_max_seconds: float = Field(default=300.0, ge=0)
    probe_byte_budget: int = Field(default=4 * 1024 * 1024, ge=1024)
    text_max_bytes: int = Field(default=1024 * 1024, ge=1)
    # The largest request body the API reads. The default holds an import naming the most
    # source_files one request may (10,000 keys of up to 1,024 characters).
    max_body_bytes: int = Field(default=12 * 1024 * 1024, ge=64 * 1024)

    @field_validator("portal_origins", mode="before")
    @classmethod
    def _origins_from_commas(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("private_endpoints", mode="before")
    @classmethod
    def _endpoints_from_commas(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("webhook_retry_seconds", mode="before")
    @classmethod
    def _delays_from_commas(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("webhook_retry_seconds")
    @classmethod
    def _delays_are_positive(cls, delays: list[float]) -> list[float]:
        if not delays or any(delay <= 0 for delay in delays):
            raise ValueError(
                "INSITU_WEBHOOK_RETRY_SECONDS must list positive delays in seconds, e.g. 30,120,600"
            )
        return delays

    @field_validator("secret_keys", mode="before")
    @classmethod
    def _keys_from_commas(cls, value: object) -> object:
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
    def _one_keyring(self) -> Settings:
        explicit_key = self.secret_key != DEVELOPMENT_SECRET_KEY
        if not self.secret_keys:
            self.secret_keys = [self.secret_key]
        elif explicit_key and self.secret_key not in self.secret_keys:
            raise ValueError(
                "INSITU_SECRET_KEY and INSITU_SECRET_KEYS are both set and the keyring does not "
                "hold INSITU_SECRET_KEY; put it in INSITU_SECRET_KEYS (after the new key) while "
                "secrets still need it, or unset INSITU_SECRET_KEY once 'insitu secrets rotate' ran"
            )
        self.secret_key = self.secret_keys[0]
        return self

    @model_validator(mode="after")
    def _strong_secret_in_production(self) -> Settings:
        if self.environment != "production":
            return self
        name = "INSITU_SECRET_KEYS's first key" if len(self.secret_keys) > 1 else "the secret key"
        if self.secret_key == DEVELOPMENT_SECRET_KEY:
            problem: str | None = "it is the development default, which anyone can read"
        else:
            problem = secret_key_weakness(self.secret_key)
        if problem:
            raise ValueError(
                f"{name} (INSITU_SECRET_KEY or INSITU_SECRET_KEYS) is too weak for production: "
                f"{problem}; set it to a long random value made by: {GOOD_SECRET_KEY_COMMAND}"
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
