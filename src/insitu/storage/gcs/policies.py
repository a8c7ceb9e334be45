"""What a customer applies in its Google Cloud project: pure functions, no SDK.

Used by the GCS provider's verify fixes, its settings card (``GET /v1/organization/gcs``)
and ``GET /v1/cors``.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from insitu.errors import InvalidConfiguration

if TYPE_CHECKING:
    from insitu.config import Settings

READER_ROLE = "roles/storage.objectViewer"
# objectViewer lacks storage.buckets.get, which reading the bucket's CORS needs; this legacy
# role adds it (and nothing that writes), so Verify access can check CORS too.
CORS_READER_ROLE = "roles/storage.legacyBucketReader"
REQUIRED_PERMISSIONS = ("storage.objects.list", "storage.objects.get")
CORS_PERMISSION = "storage.buckets.get"
CORS_RESPONSE_HEADERS = ["Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "ETag"]
CORS_MAX_AGE_SECONDS = 3600
PLACEHOLDER_EMAIL = "SERVICE_ACCOUNT_EMAIL"
TEMPLATE_EXAMPLE = "insitu-{org_id_short}@platform-project.iam.gserviceaccount.com"

_EMAIL = re.compile(r"^[a-z0-9][a-z0-9._-]*@[a-z0-9][a-z0-9.:-]*\.gserviceaccount\.com$")
# A service account ID (the part before @) is 6-30 characters.
_ACCOUNT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")


def dumps(document: Any) -> str:
    """A document as the indented JSON customers paste."""
    return json.dumps(document, indent=2)


def service_account_email(
    *, email: str | None, template: str | None, org_id: str, key_file_email: str | None = None
) -> str | None:
    """The service account the org's customers grant: per-org template, fixed email, key file's.

    ``{org_id_short}`` (16 hex digits) exists because an account ID is at most 30 characters
    and a full org ID is 32.
    """
    if template:
        try:
            result = template.format(org_id=org_id, org_id_short=org_id[:16])
        except (KeyError, IndexError, ValueError) as exc:
            raise InvalidConfiguration(
                f"INSITU_GCS_SERVICE_ACCOUNT_TEMPLATE {template!r} cannot be formatted: {exc!r}",
                fix=f"use only the {{org_id}} or {{org_id_short}} placeholders, e.g. "
                f"{TEMPLATE_EXAMPLE}",
            ) from exc
        account_id = result.partition("@")[0]
        if not _ACCOUNT_ID.match(account_id) or not _EMAIL.match(result):
            raise InvalidConfiguration(
                f"INSITU_GCS_SERVICE_ACCOUNT_TEMPLATE gives {result!r}, which is not a service "
                "account email (its ID before '@' must be 6-30 lowercase letters, digits, hyphens)",
                fix=f"set it like {TEMPLATE_EXAMPLE}",
            )
        return result
    if email:
        if not _EMAIL.match(email):
            raise InvalidConfiguration(
                f"INSITU_GCS_SERVICE_ACCOUNT_EMAIL {email!r} is not a service account email",
                fix="set it like insitu-reader@platform-project.iam.gserviceaccount.com",
            )
        return email
    return key_file_email


ISOLATION_FIX = (
    "the operator sets INSITU_GCS_SERVICE_ACCOUNT_TEMPLATE (e.g. "
    f"{TEMPLATE_EXAMPLE}) so each organization reads through its own service account, which "
    "the platform identity impersonates (roles/iam.serviceAccountTokenCreator on each); or sets "
    "INSITU_SINGLE_TENANT=true if this deployment serves a single organization"
)


def shared_account(settings: Settings) -> str | None:
    """What makes every org reach GCS as one account (None with a per-org template)."""
    if settings.gcs_service_account_template:
        return None
    if settings.gcs_service_account_email:
        return f"INSITU_GCS_SERVICE_ACCOUNT_EMAIL ({settings.gcs_service_account_email})"
    if settings.gcs_credentials_file:
        return f"the key file INSITU_GCS_CREDENTIALS_FILE ({settings.gcs_credentials_file})"
    return "the server's Application Default Credentials"


def refuse_shared_account(settings: Settings) -> None:
    """Refuse a shared service account where the deployment does not allow a shared identity.

    With one account for all orgs, any org could import a bucket another org granted to it.
    """
    shared = shared_account(settings)
    if shared is None or settings.shared_identity_allowed:
        return
    raise InvalidConfiguration(
        f"this server reaches GCS as one service account shared by all organizations, "
        f"{shared}, so any organization could read a bucket another one granted to it; "
        "production refuses a shared account",
        fix=ISOLATION_FIX,
    )


def bucket_problem(bucket: str) -> str | None:
    """Why ``bucket`` cannot be a GCS bucket name, or None."""
    if not 3 <= len(bucket) <= 222:
        return f"it has {len(bucket)} characters, not 3-63 (or up to 222 with dots)"
    if not _BUCKET.match(bucket):
        return (
            "use lowercase letters, digits, hyphens, underscores and dots; "
            "start and end with a letter or digit"
        )
    if "." not in bucket and len(bucket) > 63:
        return f"it has {len(bucket)} characters; names without dots have at most 63"
    if bucket.startswith("goog") or "google" in bucket:
        return "names may not start with 'goog' or contain 'google'"
    return None


def grant_command(bucket: str, email: str, role: str = READER_ROLE) -> str:
    """The gcloud command granting ``email`` ``role`` on ``bucket``."""
    return shlex.join(
        [
            "gcloud", "storage", "buckets", "add-iam-policy-binding", f"gs://{bucket}",
            f"--member=serviceAccount:{email}", f"--role={role}",
        ]
    )  # fmt: skip


def grant_fix(bucket: str, email: str, missing: Sequence[str] = REQUIRED_PERMISSIONS) -> str:
    """How to give ``email`` the ``missing`` permissions on ``bucket``."""
    return (
        f"grant {email} {READER_ROLE} (it includes {', '.join(missing)}) on the bucket:\n"
        f"{grant_command(bucket, email)}"
    )


def cors_reader_fix(bucket: str, email: str) -> str:
    """How to let ``email`` read ``bucket``'s CORS, or check it by hand."""
    return (
        f"{READER_ROLE} cannot read the bucket's CORS configuration ({CORS_PERMISSION}); "
        f"either grant {CORS_READER_ROLE} as well:\n"
        f"{grant_command(bucket, email, CORS_READER_ROLE)}\n"
        f"or check it yourself: gcloud storage buckets describe gs://{bucket} "
        '--format="default(cors_config)"'
    )


def cors_entry(origins: Sequence[str]) -> dict[str, Any]:
    """One GCS CORS entry allowing GET and HEAD from ``origins``."""
    return {
        "origin": [origin.rstrip("/") for origin in origins],
        "method": ["GET", "HEAD"],
        "responseHeader": list(CORS_RESPONSE_HEADERS),
        "maxAgeSeconds": CORS_MAX_AGE_SECONDS,
    }


def cors_configuration(
    origins: Sequence[str], existing: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """The file ``gcloud storage buckets update --cors-file=cors.json`` takes.

    ``existing`` entries are kept first, because the update replaces the whole configuration.
    """
    return [*existing, cors_entry(origins)]


def cors_command(bucket: str = "BUCKET") -> str:
    """The gcloud command applying ``cors.json`` to ``bucket``."""
    return shlex.join(["gcloud", "storage", "buckets", "update", f"gs://{bucket}"]) + (
        " --cors-file=cors.json"
    )
