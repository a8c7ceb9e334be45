"""The S3-specific verify checks: who insitu is, kms:Decrypt on an object's key, bucket CORS,
and, for a connection with an event queue, that the queue is reachable and the bucket's
notifications reach it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import botocore.exceptions

from insitu.errors import AccessDenied, InsituError, StorageError, StorageUnreachable
from insitu.storage import verify as steps_
from insitu.storage.base import Check, Location, ObjectInfo
from insitu.storage.s3.errors import (
    SDK_ERRORS,
    Where,
    address_of,
    code_of,
    map_error,
    sts_reach_fix,
)
from insitu.storage.s3.events import SqsEventSource
from insitu.storage.s3.identity import Identity
from insitu.storage.s3.policies import (
    cors_configuration,
    dumps,
    kms_fix,
    notification_configuration,
    put_cors_command,
    put_notification_command,
)
from insitu.storage.s3.queues import QueueAddress


def check_identity(identity: Identity) -> tuple[Check, None]:
    """Assume the roles (customer role with the external ID) and say who insitu is."""
    config = identity.config
    if config.access_key_id is not None and identity.customer_endpoint:
        # AWS STS cannot vouch for an S3-compatible store's keys; listing the bucket tests them.
        key = config.access_key_id.get_secret_value()
        detail = (
            f"signing with the connection's own access key ...{key[-4:]} for {config.endpoint_url}"
        )
        return Check("assume role", True, detail), None
    try:
        arn = identity.client("sts").get_caller_identity()["Arn"]
    except SDK_ERRORS as exc:
        error = map_error(exc, "getting AWS credentials from STS", Where(identity, ""))
        return Check("assume role", False, error.detail, _sts_fix(error, exc)), None
    if config.mode == "customer_role":
        detail = f"assumed {config.role_arn} with the organization's external ID ({arn})"
    elif config.has_own_keys:
        detail = f"signing with the connection's own access keys ({arn})"
    elif identity.platform_role:
        detail = f"assumed the platform role {identity.platform_role} ({arn})"
    else:
        detail = f"using the platform's own AWS identity {arn} (no platform role template)"
    return Check("assume role", True, detail), None


def _sts_fix(error: InsituError, exc: Exception) -> str | None:
    """AWS_ENDPOINT_URL points every AWS client at one address, STS too: an S3-compatible
    store set that way answers STS calls it does not know with an error of its own (not a
    denial, which STS itself would send, nor an address that does not answer). An address
    that does not answer is STS's own, not the connection's endpoint."""
    if isinstance(error, StorageUnreachable):
        return sts_reach_fix(address_of(exc))
    shared = os.environ.get("AWS_ENDPOINT_URL")
    sts_elsewhere = os.environ.get("AWS_ENDPOINT_URL_STS") or (
        os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true"
    )
    if type(error) is not StorageError or not shared or sts_elsewhere:
        return error.fix
    return (
        f"AWS_ENDPOINT_URL sends insitu's STS calls to {shared} as well; if that store has no "
        "STS, set AWS_ENDPOINT_URL_S3 instead of AWS_ENDPOINT_URL, or give the connection its "
        "own endpoint_url and access keys"
    )


def check_kms(identity: Identity, bucket: str, info: ObjectInfo) -> tuple[Check, None]:
    """A 1-byte GET of an SSE-KMS object, which needs kms:Decrypt on its key."""
    key_arn = info.encryption_key or "KEY_ARN"
    try:
        identity.client("s3").get_object(Bucket=bucket, Key=info.key, Range="bytes=0-0")[
            "Body"
        ].read()
    except SDK_ERRORS as exc:
        error = map_error(
            exc,
            f"reading SSE-KMS object s3://{bucket}/{info.key}",
            Where(identity, bucket, info.key),
        )
        if isinstance(error, AccessDenied):
            principal = identity.principal_or_caller()
            detail = (
                f"{principal} may not use kms:Decrypt on {key_arn}, which encrypts "
                f"s3://{bucket}/{info.key}: {error.detail}"
            )
            return Check("kms:Decrypt", False, detail, kms_fix(principal, key_arn)), None
        return Check("kms:Decrypt", False, error.detail, error.fix), None
    return Check("kms:Decrypt", True, f"kms:Decrypt on {key_arn} works"), None


def check_cors(identity: Identity, bucket: str, origins: Sequence[str]) -> tuple[Check, None]:
    """Read the bucket's CORS rules and compare them with the portal origins."""
    existing: list[dict[str, Any]] = []
    try:
        existing = identity.client("s3").get_bucket_cors(Bucket=bucket)["CORSRules"]
    except botocore.exceptions.ClientError as exc:
        if code_of(exc)[0] != "NoSuchCORSConfiguration":
            error = map_error(
                exc, f"reading the CORS configuration of {bucket}", Where(identity, bucket)
            )
            return Check(steps_.CORS, False, error.detail, error.fix), None
    except SDK_ERRORS as exc:
        error = map_error(
            exc, f"reading the CORS configuration of {bucket}", Where(identity, bucket)
        )
        return Check(steps_.CORS, False, error.detail, error.fix), None
    rules = [
        steps_.CorsRule.of(rule.get("AllowedOrigins", []), rule.get("AllowedMethods", []))
        for rule in existing
    ]
    command = put_cors_command(bucket, identity.config.endpoint_url)
    fix = (
        f"save this as cors.json\n{dumps(cors_configuration(origins, existing))}\n"
        f"then run:\n{command}"
    )
    return steps_.check_cors(rules, origins, fix=fix, where=f"bucket {bucket}")


def check_event_queue(source: SqsEventSource) -> tuple[Check, bool | None]:
    """GetQueueAttributes on the event queue: reachable with insitu's identity?"""
    try:
        attributes = source.attributes()
    except InsituError as exc:
        return steps_.failed(steps_.EVENT_QUEUE, "reading the event queue", exc), None
    waiting = attributes.get("ApproximateNumberOfMessages", "?")
    detail = f"the queue {attributes.get('QueueArn', source.queue)} is reachable ({waiting} "
    detail += "messages waiting)"
    return Check(steps_.EVENT_QUEUE, True, detail), True


def check_notifications(
    identity: Identity, location: Location, queue: QueueAddress
) -> tuple[Check, None]:
    """Whether the bucket sends created and removed objects under ``location`` to the queue."""
    bucket = location.bucket
    fix = (
        f"save this as notification.json (keep any configurations the bucket already has)\n"
        f"{dumps(notification_configuration(queue.arn, [location.key]))}\n"
        f"then run:\n{put_notification_command(bucket, identity.config.endpoint_url)}"
    )
    try:
        current = identity.client("s3").get_bucket_notification_configuration(Bucket=bucket)
    except SDK_ERRORS as exc:
        error = map_error(exc, f"reading the notification configuration of {bucket}",
                          Where(identity, bucket))  # fmt: skip
        if isinstance(error, AccessDenied):
            detail = (
                f"warning: insitu may not read the notification configuration of {bucket} "
                "(s3:GetBucketNotification), so it cannot tell whether events reach the queue"
            )
            return Check(steps_.NOTIFICATIONS, True, detail, fix), None
        return Check(steps_.NOTIFICATIONS, False, error.detail, error.fix), None
    created = removed = False
    for item in current.get("QueueConfigurations", []):
        if item.get("QueueArn") != queue.arn or not _covers(item, location.key):
            continue
        events = item.get("Events", [])
        created = created or any(event.startswith("s3:ObjectCreated:") for event in events)
        removed = removed or any(event.startswith("s3:ObjectRemoved:") for event in events)
    where = f"s3://{bucket}/{location.key}"
    if created and removed:
        detail = f"{bucket} sends created and removed objects under {where} to {queue.arn}"
        return Check(steps_.NOTIFICATIONS, True, detail), None
    missing = " and ".join(
        kind for kind, sent in (("created", created), ("removed", removed)) if not sent
    )
    detail = f"{bucket} does not send {missing} objects under {where} to {queue.arn}"
    return Check(steps_.NOTIFICATIONS, False, detail, fix), None


def _covers(item: dict[str, Any], key: str) -> bool:
    """Whether a notification configuration's filter lets every object under ``key`` through."""
    rules = item.get("Filter", {}).get("Key", {}).get("FilterRules", [])
    for rule in rules:
        name, value = str(rule.get("Name", "")).lower(), str(rule.get("Value", ""))
        if name == "suffix" and value:
            return False  # only some files: the rest would never be seen
        if name == "prefix" and not key.startswith(value):
            return False
    return True
