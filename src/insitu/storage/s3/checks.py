"""The S3-specific verify checks: who insitu is, kms:Decrypt on an object's key, bucket CORS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import botocore.exceptions

from insitu.errors import AccessDenied
from insitu.storage import verify as steps_
from insitu.storage.base import Check, ObjectInfo
from insitu.storage.s3.errors import SDK_ERRORS, Where, code_of, map_error
from insitu.storage.s3.identity import Identity
from insitu.storage.s3.policies import cors_configuration, dumps, kms_fix, put_cors_command


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
        error = map_error(exc, "getting AWS credentials", Where(identity, ""))
        return Check("assume role", False, error.detail, error.fix), None
    if config.mode == "customer_role":
        detail = f"assumed {config.role_arn} with the organization's external ID ({arn})"
    elif config.has_own_keys:
        detail = f"signing with the connection's own access keys ({arn})"
    elif identity.platform_role:
        detail = f"assumed the platform role {identity.platform_role} ({arn})"
    else:
        detail = f"using the platform's own AWS identity {arn} (no platform role template)"
    return Check("assume role", True, detail), None


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
