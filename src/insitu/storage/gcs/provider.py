"""``GcsProvider``: parses ``gs://`` locations, opens stores on cached identities, verifies access.

``PROVIDER`` is the instance the registry hands out.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

from insitu.errors import InsituError, InvalidLocation
from insitu.storage import verify as steps_
from insitu.storage.base import Check, CorsAdvice, Location, ProviderConfig, ProviderContext
from insitu.storage.cache import IdentityCache
from insitu.storage.cards import CardContext, SettingsCard
from insitu.storage.gcs.checks import PERMISSIONS_CHECK, check_cors, check_permissions
from insitu.storage.gcs.config import GcsConfig, gcs_config
from insitu.storage.gcs.identity import Identity, emulator_host
from insitu.storage.gcs.onboarding import settings_card
from insitu.storage.gcs.policies import (
    ISOLATION_FIX,
    READER_ROLE,
    bucket_problem,
    cors_command,
    cors_configuration,
    grant_command,
    grant_fix,
    refuse_shared_account,
    shared_account,
)
from insitu.storage.gcs.store import GcsObjectStore
from insitu.storage.network import allowance
from insitu.storage.throttle import for_bucket

if TYPE_CHECKING:
    from insitu.config import Settings


class GcsProvider:
    """The ``gcs`` provider: ``gs://bucket/prefix/`` locations."""

    name: ClassVar[str] = "gcs"
    schemes: ClassVar[tuple[str, ...]] = ("gs",)
    config_model: ClassVar[type[ProviderConfig]] = GcsConfig
    example_uri: ClassVar[str] = "gs://my-bucket/test-images/"
    title: ClassVar[str] = "Google Cloud"
    short_name: ClassVar[str] = "GCS"
    verify_label: ClassVar[str] = "Verify GCS access"
    path_help: ClassVar[str] = (
        "The absolute path with gs:// and the bucket, e.g. gs://my-bucket/test-images/"
    )
    instructions: ClassVar[tuple[str, ...]] = (
        "Grant insitu's service account (Organization Settings) the role "
        "roles/storage.objectViewer on the bucket.",
        "Let labelers' browsers load the files: apply these CORS rules to the bucket.",
    )
    operator_only: ClassVar[bool] = False

    def __init__(self, cache_size: int = 1024) -> None:
        self._identities: IdentityCache[Identity] = IdentityCache(cache_size)

    def parse(self, uri: str) -> Location:
        """An absolute ``gs://bucket/prefix/`` or ``gs://bucket/key``; keys are kept raw."""
        example = (
            "write the absolute path with gs:// and the bucket, e.g. gs://my-bucket/test-images/ "
            "(a prefix) or gs://my-bucket/test-images/a.png (one file)"
        )
        if not isinstance(uri, str) or uri[:5].lower() != "gs://":
            raise InvalidLocation(f"{uri!r} is not an absolute gs:// path", fix=example)
        bucket, _, key = uri[5:].partition("/")
        if not bucket:
            raise InvalidLocation(f"{uri!r} names no bucket", fix=example)
        problem = bucket_problem(bucket)
        if problem:
            raise InvalidLocation(
                f"{bucket!r} in {uri!r} is not a valid GCS bucket name: {problem}", fix=example
            )
        if "\r" in key or "\n" in key or len(key.encode()) > 1024:
            raise InvalidLocation(
                f"{uri!r} is not a valid object name (no CR/LF, at most 1024 bytes)", fix=example
            )
        return Location(self.name, "gs", bucket, key)

    def validate_config(self, config: ProviderConfig, context: ProviderContext) -> None:
        """Refuse a connection this server cannot serve: bad account settings or key file, or
        an account shared by every org where the deployment does not allow that."""
        gcs_config(config)
        refuse_shared_account(context.settings)
        self._identity(context)

    def _identity(self, context: ProviderContext) -> Identity:
        settings = context.settings
        key = (
            context.org_id,
            settings.gcs_service_account_email,
            settings.gcs_service_account_template,
            str(settings.gcs_credentials_file),
            settings.gcs_endpoint,
            settings.gcs_iam_endpoint,
            emulator_host(),
            os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"),
        )
        return self._identities.get(key, lambda: Identity(settings, context.org_id))

    def open(
        self, config: ProviderConfig, *, location: Location, context: ProviderContext
    ) -> GcsObjectStore:
        """A store on ``location``'s bucket; no network call until it is used."""
        config = gcs_config(config)
        refuse_shared_account(context.settings)
        identity = self._identity(context)
        throttle = for_bucket(
            ("gcs", identity.endpoint, location.bucket), context.settings.store_max_in_flight
        )
        return GcsObjectStore(identity, location.bucket, config.user_project, throttle)

    def offered(self, settings: Settings) -> bool:
        return True  # any org may connect its own account

    def clear_cache(self) -> None:
        """Forget cached identities and clients (tests; rotated platform keys)."""
        self._identities.clear()

    def verify(
        self, config: ProviderConfig, *, location: Location, context: ProviderContext
    ) -> list[Check]:
        """testIamPermissions, list, HEAD, ranged GET, signed URL, CORS: each with a fix."""
        config = gcs_config(config)
        steps = steps_.Steps()
        try:
            refuse_shared_account(context.settings)
            identity = Identity(context.settings, context.org_id)  # fresh: no cached tokens
            store = GcsObjectStore(identity, location.bucket, config.user_project)
        except InsituError as exc:
            steps.add(Check(PERMISSIONS_CHECK, False, exc.detail, exc.fix))
            return steps.skip_all([*steps_.READS, steps_.CORS])
        bucket, email = location.bucket, identity.grantee
        granted = steps.add(*check_permissions(store, email))
        fix = grant_fix(bucket, email)
        info = steps_.sample_object(steps, store, location.key, fix=fix)
        # Signed URLs point at the operator's own GCS endpoint (or emulator): allowed as set.
        allowed = (*context.private_endpoints, allowance(identity.endpoint))
        steps_.read_and_sign(
            steps, store, info, ttl=timedelta(minutes=1), fix=fix, allowed=allowed,
            signed_url_fix=f"signed URLs read as {email}: it needs {READER_ROLE} on the bucket "
            f"({grant_command(bucket, email)}) and a key that is not disabled or deleted",
        )  # fmt: skip
        origins = context.settings.portal_origins
        if granted is not None:
            steps.run_anyway(lambda: check_cors(store, email, granted, origins))
        else:
            steps.skip(steps_.CORS)
        if shared_account(context.settings) is not None:
            warning = steps_.isolation_warning(context.settings, fix=ISOLATION_FIX)
            if warning is not None:
                steps.add(warning, None)
        return steps.checks

    def cors_advice(self, origins: Sequence[str]) -> CorsAdvice:
        """The ``cors.json`` for ``gcloud storage buckets update`` allowing GET and HEAD."""
        return CorsAdvice(self.name, cors_configuration(origins), cors_command())

    def settings_card(self, context: CardContext) -> SettingsCard:
        """The service account to grant, the gcloud grant and the CORS rules."""
        return settings_card(context)


PROVIDER = GcsProvider()
