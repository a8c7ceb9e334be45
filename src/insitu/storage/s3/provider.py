"""``S3Provider``: parses ``s3://`` locations, opens stores on cached identities, verifies access.

``PROVIDER`` is the instance the registry hands out.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

from insitu.errors import EventsUnsupported, InsituError, InvalidConfiguration, InvalidLocation
from insitu.storage import verify as steps_
from insitu.storage.base import (
    Check,
    CorsAdvice,
    Location,
    ProviderConfig,
    ProviderContext,
    SetupDocument,
)
from insitu.storage.cache import IdentityCache
from insitu.storage.cards import CardContext, SettingsCard
from insitu.storage.network import check_endpoint
from insitu.storage.s3 import policies
from insitu.storage.s3.checks import (
    check_cors,
    check_event_queue,
    check_identity,
    check_kms,
    check_notifications,
)
from insitu.storage.s3.config import S3Config, s3_config
from insitu.storage.s3.events import SqsEventSource
from insitu.storage.s3.identity import EventHook, Identity, env_endpoint
from insitu.storage.s3.onboarding import settings_card
from insitu.storage.s3.policies import (
    bucket_problem,
    cors_configuration,
    platform_role_arn,
    put_cors_command,
)
from insitu.storage.s3.store import S3ObjectStore
from insitu.storage.throttle import for_bucket

if TYPE_CHECKING:
    from insitu.config import Settings


class S3Provider:
    """The ``s3`` provider. ``event_hooks`` are botocore handlers put on every boto3 client."""

    name: ClassVar[str] = "s3"
    schemes: ClassVar[tuple[str, ...]] = ("s3",)
    config_model: ClassVar[type[ProviderConfig]] = S3Config
    example_uri: ClassVar[str] = "s3://my-bucket/images/"
    title: ClassVar[str] = "Amazon S3"
    short_name: ClassVar[str] = "S3"
    verify_label: ClassVar[str] = "Verify access"
    events_setting: ClassVar[str] = (
        'create the connection with settings "events": {"sqs_queue_url": '
        '"https://sqs.REGION.amazonaws.com/ACCOUNT_ID/QUEUE"}'
    )
    path_help: ClassVar[str] = (
        "The absolute path of a folder (it ends with /) or of one file, e.g. s3://my-bucket/images/"
    )
    instructions: ClassVar[tuple[str, ...]] = (
        "Let insitu read the bucket: apply the bucket policy for your organization's platform "
        "role, or create a role insitu may assume with your organization's external ID "
        "(both are in Organization Settings). Reading and signing URLs is all insitu needs.",
        "Data encrypted with SSE-KMS also needs kms:Decrypt on its key for that role: "
        "verifying access says exactly what to grant.",
        "Let labelers' browsers load the files: apply these CORS rules to the bucket.",
    )
    operator_only: ClassVar[bool] = False

    def __init__(self, event_hooks: Sequence[EventHook] = (), cache_size: int = 1024) -> None:
        self.event_hooks = tuple(event_hooks)
        self._identities: IdentityCache[Identity] = IdentityCache(cache_size)

    # parsing and configuration

    def parse(self, uri: str) -> Location:
        """``s3://bucket/prefix/`` or ``s3://bucket/key``; keys are kept raw (no decoding)."""
        example = "write it as s3://my-bucket/images/ (a prefix) or s3://my-bucket/images/a.png"
        if not isinstance(uri, str) or not uri[:5].lower() == "s3://":
            raise InvalidLocation(f"{uri!r} is not an s3:// URI", fix=example)
        bucket, _, key = uri[5:].partition("/")
        if not bucket:
            raise InvalidLocation(f"{uri!r} names no bucket", fix=example)
        problem = bucket_problem(bucket)
        if problem:
            raise InvalidLocation(
                f"{bucket!r} in {uri!r} is not a valid S3 bucket name: {problem}",
                fix=f"{example}; bucket names are 3-63 lowercase letters, digits, dots and hyphens",
            )
        return Location("s3", "s3", bucket, key)

    def validate_config(self, config: ProviderConfig, context: ProviderContext) -> None:
        """Refuse a non-public endpoint, a shared identity in production, a customer role
        without the org's external ID or with another one."""
        config = s3_config(config)
        if config.endpoint_url:
            check_endpoint(config.endpoint_url, context.private_endpoints)
        queue = config.queue
        if queue is not None and queue.endpoint is not None:
            check_endpoint(queue.endpoint, context.private_endpoints)
        template = context.settings.aws_platform_role_template
        if template:
            platform_role_arn(template, context.org_id)
        _refuse_shared_identity(config, context)
        if config.mode != "customer_role":
            return
        if not context.external_id:
            raise InvalidConfiguration(
                "insitu refuses to assume a customer role without the organization's external ID",
                fix="create the organization's external ID first (GET /v1/organization/s3), "
                "then require it in the role's trust policy",
            )
        if config.external_id is not None and config.external_id != context.external_id:
            raise InvalidConfiguration(
                "the connection's external_id is not this organization's external ID",
                fix=f"set external_id to {context.external_id!r} (or leave it out), and require "
                "that value in the role's trust policy",
            )

    # stores

    def open(
        self, config: ProviderConfig, *, location: Location, context: ProviderContext
    ) -> S3ObjectStore:
        """A store on ``location``'s bucket; no network call until it is used."""
        config = s3_config(config)
        self.validate_config(config, context)
        identity = self._identity(config, context)
        throttle = for_bucket(
            ("s3", identity.endpoint, location.bucket), context.settings.store_max_in_flight
        )
        return S3ObjectStore(identity, location.bucket, throttle)

    def offered(self, settings: Settings) -> bool:
        return True  # any org may connect its own account

    def _identity(self, config: S3Config, context: ProviderContext) -> Identity:
        key = (
            config.model_dump_json(),
            context.org_id,
            context.external_id,
            context.settings.aws_platform_role_template,
            env_endpoint(),
            os.environ.get("AWS_ENDPOINT_URL_STS"),
            os.environ.get("AWS_ACCESS_KEY_ID"),
            os.environ.get("AWS_PROFILE"),
        )
        return self._identities.get(key, lambda: Identity(config, context, self.event_hooks))

    # storage events

    def event_queue(self, config: ProviderConfig) -> str | None:
        """The connection's SQS queue URL, or None when it names none."""
        queue = s3_config(config).queue
        return queue.url if queue is not None else None

    def open_events(self, config: ProviderConfig, *, context: ProviderContext) -> SqsEventSource:
        """The connection's SQS queue, read with the same identity as its bucket."""
        config = s3_config(config)
        self.validate_config(config, context)
        queue = config.queue
        if queue is None:
            raise EventsUnsupported(
                "this s3 connection names no queue for the bucket's event notifications",
                fix=f"{self.events_setting}, then apply what "
                "GET /v1/connections/ID/events/setup prints",
            )
        return SqsEventSource(self._identity(config, context), queue)

    def events_setup(
        self,
        config: ProviderConfig,
        *,
        location: Location,
        prefixes: Sequence[str],
        context: ProviderContext,
    ) -> list[SetupDocument]:
        """The bucket notification configuration, the queue policy and the role's statement."""
        config = s3_config(config)
        queue = config.queue
        if queue is None:
            self.open_events(config, context=context)  # raises, saying what to set
            raise AssertionError("unreachable")
        principal = self._identity(config, context).principal
        bucket = location.bucket
        endpoint = config.endpoint_url
        policy = policies.queue_policy(queue.arn, bucket, principal)
        role_policy = policies.events_role_policy(queue.arn, bucket)
        return [
            SetupDocument(
                "bucket notifications",
                f"sends s3://{bucket}'s created and removed objects under the watched prefixes "
                f"to {queue.arn}. The command replaces the bucket's whole notification "
                "configuration: first add any it already has (aws s3api "
                f"get-bucket-notification-configuration --bucket {bucket}) to notification.json",
                policies.notification_configuration(queue.arn, prefixes),
                policies.put_notification_command(bucket, endpoint),
            ),
            SetupDocument(
                "queue policy",
                f"lets S3 send s3://{bucket}'s notifications to the queue"
                + (f", and {principal} receive and delete them" if principal else "")
                + ". It replaces the queue's access policy; a queue encrypted with a KMS key "
                "also needs s3.amazonaws.com allowed kms:GenerateDataKey and kms:Decrypt on it",
                policy,
                policies.set_queue_policy_command(queue.url, policy),
            ),
            SetupDocument(
                "role statement",
                "lets insitu's role receive and delete the queue's messages (and see the "
                "bucket's notification configuration, for verify)",
                role_policy,
                policies.put_role_policy_command(principal),
            ),
        ]

    def clear_cache(self) -> None:
        """Forget cached identities, clients and credentials (tests; rotated platform keys)."""
        self._identities.clear()

    # verification

    def verify(
        self, config: ProviderConfig, *, location: Location, context: ProviderContext
    ) -> list[Check]:
        """Assume role, list, HEAD, kms:Decrypt, ranged GET, signed URL, CORS: each with a fix."""
        config = s3_config(config)
        steps = steps_.Steps()
        try:
            self.validate_config(config, context)
            identity = Identity(config, context, self.event_hooks)  # fresh: no cached grants
        except InsituError as exc:
            steps.add(Check("assume role", False, exc.detail, exc.fix))
            return steps.skip_all([*steps_.READS, steps_.CORS])
        store = S3ObjectStore(identity, location.bucket)
        steps.add(*check_identity(identity))
        if uses_shared_identity(config, context):
            warning = steps_.isolation_warning(context.settings, fix=_PER_ORG_IDENTITY_FIX)
            if warning is not None:
                steps.add(warning)
        info = steps_.sample_object(steps, store, location.key)
        if info is not None and info.encryption == "aws:kms":
            steps.run("kms:Decrypt", lambda: check_kms(identity, location.bucket, info))
        steps_.read_and_sign(
            steps, store, info, ttl=timedelta(minutes=1), allowed=context.private_endpoints,
            signed_url_fix=f"check that the bucket is in the connection's region "
            f"({config.region}): aws s3api get-bucket-location --bucket {location.bucket}",
        )  # fmt: skip
        origins = context.settings.portal_origins
        if steps.checks[0].ok:
            steps.run_anyway(lambda: check_cors(identity, location.bucket, origins))
        else:
            steps.skip(steps_.CORS)
        queue = config.queue
        if queue is not None:
            source = SqsEventSource(identity, queue)
            try:
                if not steps.checks[0].ok:
                    steps.skip(steps_.EVENT_QUEUE)
                    steps.skip(steps_.NOTIFICATIONS)
                elif steps.run_anyway(lambda: check_event_queue(source)):
                    steps.run_anyway(lambda: check_notifications(identity, location, queue))
                else:
                    steps.skip(steps_.NOTIFICATIONS, f"needs '{steps_.EVENT_QUEUE}' to pass first")
            finally:
                source.close()
        return steps.checks

    def cors_advice(self, origins: Sequence[str]) -> CorsAdvice:
        """The ``cors.json`` for ``put-bucket-cors`` allowing GET and HEAD from ``origins``."""
        return CorsAdvice("s3", cors_configuration(origins), put_cors_command())

    def settings_card(self, context: CardContext) -> SettingsCard:
        """The org's role, external ID, bucket/trust policies, CloudFormation and CORS."""
        return settings_card(context)


_PER_ORG_IDENTITY_FIX = (
    "give the connection an identity only your organization controls: mode customer_role with "
    "a role whose trust policy requires your organization's external ID "
    "(GET /v1/organization/s3), or the connection's own access_key_id and secret_access_key "
    "(S3-compatible stores); or the operator sets INSITU_AWS_PLATFORM_ROLE_TEMPLATE "
    "(e.g. arn:aws:iam::123456789012:role/insitu-org-{org_id}) for a role per organization"
)


def uses_shared_identity(config: S3Config, context: ProviderContext) -> bool:
    """Whether ``config`` reaches storage as insitu's own AWS identity, which all orgs share.

    A per-org identity is a customer role (assumed with the org's external ID), the org's own
    platform role (INSITU_AWS_PLATFORM_ROLE_TEMPLATE), or the connection's own access keys.
    An ``endpoint_url`` changes nothing: without its own keys, the connection signs its
    requests to that store as insitu's shared identity too.
    """
    return not (
        config.mode == "customer_role"
        or config.has_own_keys
        or context.settings.aws_platform_role_template
    )


def _refuse_shared_identity(config: S3Config, context: ProviderContext) -> None:
    """In production, refuse a connection that any org could make to any bucket granted to
    insitu's own identity (a confused deputy), unless the operator declares one tenant."""
    if context.settings.shared_identity_allowed or not uses_shared_identity(config, context):
        return
    raise InvalidConfiguration(
        "this connection would reach storage as insitu's own AWS identity, which every "
        "organization shares, so it could read any bucket granted to insitu for another "
        "organization; production refuses that",
        fix=f"{_PER_ORG_IDENTITY_FIX}; a deployment serving one organization may set "
        "INSITU_SINGLE_TENANT=true instead",
    )


PROVIDER = S3Provider()
