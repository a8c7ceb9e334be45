"""The GCS-specific verify checks: the account's IAM permissions on the bucket, bucket CORS."""

from __future__ import annotations

from collections.abc import Sequence

from insitu.errors import InsituError
from insitu.storage import verify as steps_
from insitu.storage.base import Check
from insitu.storage.gcs.policies import (
    CORS_PERMISSION,
    REQUIRED_PERMISSIONS,
    cors_command,
    cors_configuration,
    cors_reader_fix,
    dumps,
    grant_fix,
)
from insitu.storage.gcs.store import GcsObjectStore

PERMISSIONS_CHECK = "IAM permissions"


def check_permissions(store: GcsObjectStore, email: str) -> tuple[Check, list[str] | None]:
    """testIamPermissions: does ``email`` hold storage.objects.list and .get on the bucket?"""
    bucket = store.bucket_name
    try:
        granted = store.test_permissions([*REQUIRED_PERMISSIONS, CORS_PERMISSION])
    except InsituError as exc:
        return Check(PERMISSIONS_CHECK, False, exc.detail, exc.fix), None
    missing = [name for name in REQUIRED_PERMISSIONS if name not in granted]
    if missing:
        detail = f"{email} is missing {' and '.join(missing)} on gs://{bucket}"
        return Check(PERMISSIONS_CHECK, False, detail, grant_fix(bucket, email, missing)), None
    detail = f"{email} has {' and '.join(REQUIRED_PERMISSIONS)} on gs://{bucket}"
    return Check(PERMISSIONS_CHECK, True, detail), granted


def check_cors(
    store: GcsObjectStore, email: str, granted: Sequence[str], origins: Sequence[str]
) -> tuple[Check, None]:
    """Read the bucket's CORS entries and compare them with the portal origins."""
    bucket = store.bucket_name
    if origins and CORS_PERMISSION not in granted:
        detail = f"{email} may not read the CORS configuration of gs://{bucket}"
        return Check(steps_.CORS, False, detail, cors_reader_fix(bucket, email)), None
    try:
        existing = store.cors()
    except InsituError as exc:
        return Check(steps_.CORS, False, exc.detail, exc.fix), None
    rules = [steps_.CorsRule.of(e.get("origin", []), e.get("method", [])) for e in existing]
    fix = (
        f"save this as cors.json\n{dumps(cors_configuration(origins, existing))}\n"
        f"then run:\n{cors_command(bucket)}"
    )
    return steps_.check_cors(rules, origins, fix=fix, where=f"bucket gs://{bucket}")
