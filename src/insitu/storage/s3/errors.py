"""S3, STS and KMS errors mapped to insitu's errors, each with what failed and the exact fix.

One table maps error codes (or bare HTTP statuses, for HEAD) to the error classes; the fixes name
the bucket policy, trust policy or KMS grant to apply, for the principal that needs it.

Only the SDKs' own errors are mapped (``SDK_ERRORS``, matched by type): callers catch exactly
those, so a bug in insitu (a TypeError, a KeyError) propagates unchanged to the API's
internal_error handler with its traceback, instead of passing for the customer's store failing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import botocore.exceptions
import obstore.exceptions

from insitu.errors import (
    AccessDenied,
    ContainerNotFound,
    InsituError,
    KeyAccessDenied,
    ObjectNotFound,
    StorageError,
    StorageUnreachable,
    StoreThrottled,
    StoreUnavailable,
)
from insitu.storage.s3.identity import BOTO_ERRORS, AssumeRoleFailed, Identity, identity_arn_of
from insitu.storage.s3.policies import (
    bucket_policy,
    dumps,
    kms_fix,
    put_bucket_policy_command,
    trust_policy,
)

# One table from S3/STS/KMS error codes (or bare HTTP statuses, for HEAD) to insitu's errors.
_ERRORS: dict[str, type[StorageError]] = {
    "NoSuchKey": ObjectNotFound,
    "NoSuchVersion": ObjectNotFound,
    "NotFound": ObjectNotFound,
    "404": ObjectNotFound,
    "NoSuchBucket": ContainerNotFound,
    "AccessDenied": AccessDenied,
    "Forbidden": AccessDenied,
    "403": AccessDenied,
    "AllAccessDisabled": AccessDenied,
    "AccountProblem": AccessDenied,
    "InvalidAccessKeyId": AccessDenied,
    "InvalidClientTokenId": AccessDenied,
    "SignatureDoesNotMatch": AccessDenied,
    "ExpiredToken": AccessDenied,
    "InvalidToken": AccessDenied,
    "UnrecognizedClientException": AccessDenied,
    "KMS.AccessDeniedException": KeyAccessDenied,
    "KMS.DisabledException": KeyAccessDenied,
    "KMS.NotFoundException": KeyAccessDenied,
    "KMS.KMSInvalidStateException": KeyAccessDenied,
    # Transient: retried with backoff by storage.throttle, never a per-file failure.
    "SlowDown": StoreThrottled,
    "503": StoreThrottled,
    "429": StoreThrottled,
    "TooManyRequests": StoreThrottled,
    "Throttling": StoreThrottled,
    "ThrottlingException": StoreThrottled,
    "RequestLimitExceeded": StoreThrottled,
    "ServiceUnavailable": StoreThrottled,
    "InternalError": StoreUnavailable,
    "RequestTimeout": StoreUnavailable,
    "500": StoreUnavailable,
    "502": StoreUnavailable,
    "504": StoreUnavailable,
}
# What a call through boto3 or obstore raises when the store, STS or the network fails us.
SDK_ERRORS: tuple[type[Exception], ...] = (
    *BOTO_ERRORS,
    obstore.exceptions.BaseError,
    FileNotFoundError,  # obstore's "not found" (its NotFoundError class is no longer raised)
    AssumeRoleFailed,
)
# obstore (reqwest) words a request that got no response so; "kind: Connect" if no connection.
_SENDING, _CONNECT = "error sending request", "kind: Connect"
_REDIRECTS = ("301", "302", "303", "307", "308", "PermanentRedirect", "TemporaryRedirect")
_KMS_HINTS = ("kms", "customer master key")
_KMS_ARN = re.compile(r"arn:aws[\w-]*:kms:[\w-]+:\d{12}:key/[\w-]+")
_UNREACHABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
)
# A request that was sent but got no answer: the store is there, just failing for now.
_INTERRUPTED = (
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
)


@dataclass(frozen=True)
class Where:
    """What was being done where, to word the error and its fix."""

    identity: Identity
    bucket: str
    key: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key or ''}"


def code_of(exc: Exception) -> tuple[str, str, str]:
    """(code, message, operation) of a boto3 or obstore error."""
    if isinstance(exc, botocore.exceptions.ClientError):
        # An answer in another service's error format (S3's XML to an STS call) is read into
        # the top level instead of "Error".
        error = exc.response.get("Error") or exc.response
        return str(error.get("Code", "")), str(error.get("Message", "")), exc.operation_name
    text = str(exc)
    code = re.search(r"<Code>([\w.]+)</Code>", text)
    if code:  # S3's own code, which obstore keeps only in the message
        return code[1], text, ""
    if isinstance(exc, FileNotFoundError | obstore.exceptions.NotFoundError):
        return "404", text, ""
    if isinstance(
        exc, obstore.exceptions.PermissionDeniedError | obstore.exceptions.UnauthenticatedError
    ):
        return "403", text, ""
    if isinstance(exc, obstore.exceptions.GenericError):
        # Other HTTP statuses have no class of their own in obstore; the status is in the text.
        status = re.search(r"status code: (\d{3})", text)
        return (status[1] if status else ""), text, ""
    return "", text, ""


def map_error(exc: Exception, what: str, where: Where) -> InsituError:
    """Map an SDK error (one of ``SDK_ERRORS``) to insitu's errors, with what failed and the fix."""
    if isinstance(exc, InsituError):
        return exc
    if isinstance(exc, botocore.exceptions.HTTPClientError):
        cause = exc.kwargs.get("error")
        if isinstance(cause, InsituError):  # refused by insitu's own connection check
            return cause
    identity, bucket = where.identity, where.bucket
    # The address that failed, not the connection's: STS or a credential source may be the one.
    endpoint = address_of(exc) or identity.endpoint or f"S3 in {identity.config.region}"
    sending = isinstance(exc, obstore.exceptions.GenericError) and _SENDING in str(exc)
    if isinstance(exc, _INTERRUPTED) or (sending and _CONNECT not in str(exc)):
        return StoreUnavailable(
            f"{what} failed: {endpoint} did not answer ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]})",
            fix=f"retry later; if it persists, check {endpoint} and the network to it",
            bucket=bucket,
            key=where.key,
        )
    if isinstance(exc, _UNREACHABLE) or sending:
        return StorageUnreachable(
            f"{what} failed: cannot reach {endpoint}",
            fix=f"check that {endpoint} is reachable from the insitu servers "
            "(network, proxy, the connection's endpoint_url and region)",
        )
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return AccessDenied(
            f"{what} failed: insitu has no AWS credentials",
            fix="give the insitu servers an AWS identity (instance/task role, or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
        )
    if isinstance(exc, AssumeRoleFailed):
        return _assume_error(exc, identity)
    code, message, _ = code_of(exc)
    if code in _REDIRECTS:
        return _redirect_error(exc, what, where)
    kind = _ERRORS.get(code, StorageError)
    if kind is AccessDenied and any(hint in message.lower() for hint in _KMS_HINTS):
        kind = KeyAccessDenied
    detail = f"{what} failed: {code or type(exc).__name__}"
    if message and kind is not ObjectNotFound:
        detail += f" ({' '.join(message.split())[:300]})"
    if kind is ObjectNotFound:
        key = where.key or ""
        fix = (
            f"check that {where.uri} exists (it may have been moved or deleted): "
            f"aws s3api head-object --bucket {bucket} --key '{key}'"
        )
    elif kind is ContainerNotFound:
        fix = (
            f"check the bucket name {bucket!r}, and the connection's region "
            f"({identity.config.region}) and endpoint: aws s3api head-bucket --bucket {bucket}"
        )
    elif kind is KeyAccessDenied:
        key_arn = _KMS_ARN.search(message)
        fix = kms_fix(identity.principal_or_caller(), key_arn[0] if key_arn else "KEY_ARN")
    elif kind is AccessDenied:
        fix = _bucket_policy_fix(identity, bucket)
    else:
        fix = f"retry; if it persists, check {endpoint}" + (
            f" and the bucket {bucket!r}" if bucket else ""
        )
    return kind(detail, fix=fix, bucket=bucket, key=where.key)


def address_of(exc: Exception) -> str | None:
    """Where a botocore connection error was sending (scheme://host[:port]), if it says."""
    if isinstance(exc, AssumeRoleFailed):
        exc = exc.cause
    if not isinstance(exc, botocore.exceptions.BotoCoreError):
        return None
    url = exc.kwargs.get("endpoint_url")
    if not isinstance(url, str) or not url:
        return None
    parts = urlsplit(url)  # the request's own URL: its path and query name the bucket and key
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else url


def sts_reach_fix(endpoint: str | None) -> str:
    """The fix for STS not answering at ``endpoint`` (None: the address is not known)."""
    where = f"STS at {endpoint}" if endpoint else "AWS STS"
    return (
        f"check that the insitu servers can reach {where} (network, proxy, firewall); for "
        "another STS (an S3-compatible store's own), set AWS_ENDPOINT_URL_STS, or "
        "AWS_ENDPOINT_URL for every AWS service, on the insitu servers"
    )


def _redirect_error(exc: Exception, what: str, where: Where) -> StorageError:
    identity = where.identity
    endpoint = identity.endpoint or f"S3 in {identity.config.region}"
    location = ""
    if isinstance(exc, botocore.exceptions.ClientError):
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        location = headers.get("location", "")
    status = code_of(exc)[0]
    to = f" to {location[:200]}" if location else ""
    if identity.customer_endpoint:
        fix = (
            "set the connection's endpoint_url to the address that serves the bucket itself, "
            "not one that redirects"
        )
    else:
        fix = (
            f"set the connection's region to the bucket's region: "
            f"aws s3api get-bucket-location --bucket {where.bucket}"
        )
    return StorageError(
        f"{what} failed: {endpoint} answered with a redirect ({status}){to}, which insitu does "
        "not follow",
        fix=fix,
        bucket=where.bucket,
    )


def _bucket_policy_fix(identity: Identity, bucket: str) -> str:
    policy = dumps(bucket_policy(identity.principal_or_caller(), bucket))
    command = put_bucket_policy_command(bucket, identity.config.endpoint_url)
    return (
        f"grant read access: save this as policy.json\n{policy}\nthen run:\n{command}\n"
        "(merge it into the bucket's existing policy if it has one)"
    )


def _assume_error(exc: AssumeRoleFailed, identity: Identity) -> InsituError:
    failing = exc.role
    if isinstance(exc.cause, _UNREACHABLE):
        endpoint = address_of(exc.cause)
        return StorageUnreachable(
            f"assuming {failing.role_arn} failed: cannot reach "
            f"{f'STS at {endpoint}' if endpoint else 'AWS STS'} ({type(exc.cause).__name__})",
            fix=sts_reach_fix(endpoint),
        )
    code, message, _ = code_of(exc.cause)
    detail = f"assuming {failing.role_arn} failed: {code} ({' '.join(message.split())[:300]})"
    if failing.external_id is not None:
        assumer = identity.platform_role or identity_arn_of(identity)
        name = failing.role_arn.rsplit("/", 1)[-1]
        fix = (
            f"let insitu assume the role with the org's external ID: save this as trust.json\n"
            f"{dumps(trust_policy(assumer, failing.external_id))}\nthen run:\n"
            f"aws iam update-assume-role-policy --role-name {name} "
            "--policy-document file://trust.json"
        )
    else:
        fix = (
            f"the platform role {failing.role_arn} must exist and trust insitu's servers; "
            "ask the insitu operator (INSITU_AWS_PLATFORM_ROLE_TEMPLATE)"
        )
    return AccessDenied(detail, fix=fix, role_arn=failing.role_arn)
