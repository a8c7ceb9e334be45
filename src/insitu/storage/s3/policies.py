"""The AWS policy and CORS documents insitu asks customers to apply: pure functions, no SDK.

Used by the S3 provider's verify fixes and by ``GET /v1/organization/s3`` / ``GET /v1/cors``.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from typing import Any

from insitu.errors import InvalidConfiguration

POLICY_VERSION = "2012-10-17"
CORS_EXPOSE_HEADERS = ["ETag", "Content-Length", "Content-Range", "Accept-Ranges", "Content-Type"]
CORS_MAX_AGE_SECONDS = 3600
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
ROLE_ARN_PATTERN = re.compile(
    r"^arn:aws(?:-cn|-us-gov|-iso|-iso-b)?:iam::\d{12}:role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$"
)


def dumps(document: Any) -> str:
    """A policy document as the indented JSON customers paste."""
    return json.dumps(document, indent=2)


def platform_role_arn(template: str, org_id: str) -> str:
    """The org's platform role ARN from a template such as ``...:role/insitu-org-{org_id}``."""
    try:
        arn = template.format(org_id=org_id)
    except (KeyError, IndexError, ValueError) as exc:
        raise InvalidConfiguration(
            f"INSITU_AWS_PLATFORM_ROLE_TEMPLATE {template!r} cannot be formatted: {exc!r}",
            fix="use only the {org_id} placeholder, e.g. "
            "arn:aws:iam::123456789012:role/insitu-org-{org_id}",
        ) from exc
    if not ROLE_ARN_PATTERN.match(arn):
        raise InvalidConfiguration(
            f"INSITU_AWS_PLATFORM_ROLE_TEMPLATE gives {arn!r}, which is not an IAM role ARN",
            fix="set it like arn:aws:iam::123456789012:role/insitu-org-{org_id}",
        )
    return arn


def bucket_policy(role_arn: str, bucket: str) -> dict[str, Any]:
    """A bucket policy granting ``role_arn`` read-only access to ``bucket``."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "InsituReadObjects",
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
            {
                "Sid": "InsituListBucket",
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetBucketCors"],
                "Resource": f"arn:aws:s3:::{bucket}",
            },
        ],
    }


def trust_policy(platform_role_arn: str, external_id: str) -> dict[str, Any]:
    """The customer role's trust policy: only insitu's role may assume it, with the external ID."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "InsituAssumeRole",
                "Effect": "Allow",
                "Principal": {"AWS": platform_role_arn},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def kms_statement(role_arn: str, key_arn: str) -> dict[str, Any]:
    """The key-policy statement letting ``role_arn`` decrypt objects encrypted with ``key_arn``.

    In a key policy ``Resource`` is ``"*"``, meaning the key the policy is attached to
    (``key_arn``); the role's own identity policy, if it has one, must also allow the key.
    """
    return {
        "Sid": "InsituDecrypt",
        "Effect": "Allow",
        "Principal": {"AWS": role_arn},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }


def kms_fix(role_arn: str, key_arn: str) -> str:
    """How to grant ``kms:Decrypt`` on ``key_arn``: a grant command, or the key-policy statement."""
    grant = shlex.join(
        [
            "aws", "kms", "create-grant", "--key-id", key_arn,
            "--grantee-principal", role_arn, "--operations", "Decrypt",
        ]
    )  # fmt: skip
    return (
        f"Allow {role_arn} to use kms:Decrypt on the key {key_arn}. Either run:\n{grant}\n"
        f"or add this statement to the key policy of {key_arn}:\n"
        f"{dumps(kms_statement(role_arn, key_arn))}"
    )


def cors_rule(origins: Sequence[str]) -> dict[str, Any]:
    """One S3 CORS rule allowing GET and HEAD from ``origins``."""
    return {
        "AllowedHeaders": ["*"],
        "AllowedMethods": ["GET", "HEAD"],
        "AllowedOrigins": [origin.rstrip("/") for origin in origins],
        "ExposeHeaders": list(CORS_EXPOSE_HEADERS),
        "MaxAgeSeconds": CORS_MAX_AGE_SECONDS,
    }


def cors_configuration(
    origins: Sequence[str], existing: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """The file ``put-bucket-cors --cors-configuration file://cors.json`` takes.

    ``existing`` rules are kept first, because put-bucket-cors replaces the whole configuration.
    """
    return {"CORSRules": [*existing, cors_rule(origins)]}


def put_cors_command(bucket: str = "BUCKET", endpoint_url: str | None = None) -> str:
    """The AWS CLI command applying ``cors.json`` to ``bucket``."""
    args = ["aws", "s3api", "put-bucket-cors", "--bucket", bucket]
    if endpoint_url:
        args += ["--endpoint-url", endpoint_url]
    return shlex.join(args) + " --cors-configuration file://cors.json"


def put_bucket_policy_command(bucket: str, endpoint_url: str | None = None) -> str:
    """The AWS CLI command applying ``policy.json`` as ``bucket``'s policy."""
    args = ["aws", "s3api", "put-bucket-policy", "--bucket", bucket]
    if endpoint_url:
        args += ["--endpoint-url", endpoint_url]
    return shlex.join(args) + " --policy file://policy.json"


def bucket_problem(bucket: str) -> str | None:
    """Why ``bucket`` cannot be an S3 bucket name, or None."""
    # Only today's rules: legacy names (capitals, underscores) can no longer be created and
    # break virtual-hosted addressing and TLS; S3-compatible stores follow these rules too.
    if not 3 <= len(bucket) <= 63:
        return f"it has {len(bucket)} characters, not 3-63"
    if not _BUCKET.match(bucket):
        return "use lowercase letters, digits, dots, hyphens; start and end with a letter/digit"
    if ".." in bucket or ".-" in bucket or "-." in bucket:
        return "dots may not be doubled or next to a hyphen"
    if _IPV4.match(bucket):
        return "it may not look like an IP address"
    return None


# Storage events: bucket notifications to an SQS queue insitu reads.

EVENT_TYPES = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
QUEUE_READ_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
NOTIFICATION_ID = "insitu-events"


def notification_configuration(
    queue_arn: str, prefixes: Sequence[str], existing: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The file ``put-bucket-notification-configuration`` takes: created and removed objects
    under each of ``prefixes`` (all of them for ``""``) go to ``queue_arn``.

    ``existing`` configurations are kept (minus insitu's own earlier ones), because the command
    replaces the bucket's whole notification configuration.
    """
    kept = {
        kind: [item for item in items if not str(item.get("Id", "")).startswith(NOTIFICATION_ID)]
        for kind, items in (existing or {}).items()
        if isinstance(items, list)
    }
    ours = []
    for n, prefix in enumerate(sorted(set(prefixes)) or [""]):
        item: dict[str, Any] = {
            "Id": f"{NOTIFICATION_ID}-{n + 1}",
            "QueueArn": queue_arn,
            "Events": list(EVENT_TYPES),
        }
        if prefix:
            item["Filter"] = {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}
        ours.append(item)
    kept["QueueConfigurations"] = [*kept.get("QueueConfigurations", []), *ours]
    other = {key: value for key, value in (existing or {}).items() if key not in kept}
    return {**other, **{key: value for key, value in kept.items() if value}}


def put_notification_command(bucket: str, endpoint_url: str | None = None) -> str:
    """The AWS CLI command applying ``notification.json`` to ``bucket``."""
    args = ["aws", "s3api", "put-bucket-notification-configuration", "--bucket", bucket]
    if endpoint_url:
        args += ["--endpoint-url", endpoint_url]
    return shlex.join(args) + " --notification-configuration file://notification.json"


def queue_policy(queue_arn: str, bucket: str, reader: str | None) -> dict[str, Any]:
    """The queue's access policy: S3 may send ``bucket``'s notifications, and ``reader``
    (insitu's role, when known) may receive and delete them."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "S3SendsBucketEvents",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
        }
    ]
    if reader:
        statements.append(
            {
                "Sid": "InsituReadsBucketEvents",
                "Effect": "Allow",
                "Principal": {"AWS": reader},
                "Action": list(QUEUE_READ_ACTIONS),
                "Resource": queue_arn,
            }
        )
    return {"Version": POLICY_VERSION, "Statement": statements}


def set_queue_policy_command(queue_url: str, policy: dict[str, Any]) -> str:
    """The AWS CLI command setting ``policy`` as the queue's access policy (exactly; it replaces
    the queue's current policy)."""
    attributes = json.dumps({"Policy": json.dumps(policy, separators=(",", ":"))})
    return shlex.join(
        ["aws", "sqs", "set-queue-attributes", "--queue-url", queue_url,
         "--attributes", attributes]
    )  # fmt: skip


def events_role_policy(queue_arn: str, bucket: str) -> dict[str, Any]:
    """The identity policy insitu's role needs to read the queue (and, for ``verify``, to see
    that the bucket's notifications target it)."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "InsituReadBucketEvents",
                "Effect": "Allow",
                "Action": list(QUEUE_READ_ACTIONS),
                "Resource": queue_arn,
            },
            {
                "Sid": "InsituSeeBucketNotifications",
                "Effect": "Allow",
                "Action": "s3:GetBucketNotification",
                "Resource": f"arn:aws:s3:::{bucket}",
            },
        ],
    }


def put_role_policy_command(role_arn: str | None) -> str:
    """The AWS CLI command attaching ``role-events-policy.json`` to the role."""
    name = role_arn.rsplit("/", 1)[-1] if role_arn and ":role/" in role_arn else "ROLE_NAME"
    return shlex.join(
        ["aws", "iam", "put-role-policy", "--role-name", name,
         "--policy-name", "insitu-bucket-events"]
    ) + " --policy-document file://role-events-policy.json"  # fmt: skip
