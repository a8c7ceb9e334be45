"""What a customer applies in its Google Cloud project to let insitu read a bucket."""

from __future__ import annotations

import json

from insitu.config import Settings
from insitu.errors import InvalidConfiguration, InvalidLocation
from insitu.organizations.models import Organization
from insitu.organizations.schemas import GcsGrant, GcsSettingsRead
from insitu.storage.gcs.policies import (
    CORS_READER_ROLE,
    PLACEHOLDER_EMAIL,
    READER_ROLE,
    bucket_problem,
    grant_command,
    service_account_email,
)


def settings_for(org: Organization, *, settings: Settings, bucket: str | None) -> GcsSettingsRead:
    """The org's service account, the role to grant it on ``bucket``, and the gcloud command."""
    email = service_account_email(
        email=settings.gcs_service_account_email,
        template=settings.gcs_service_account_template,
        org_id=org.id,
        key_file_email=_key_file_email(settings),
    )
    member = email or PLACEHOLDER_EMAIL
    if bucket is not None:
        bucket = bucket.strip().removeprefix("gs://").strip("/")
        problem = bucket_problem(bucket)
        if problem:
            raise InvalidLocation(
                f"{bucket!r} is not a GCS bucket name: {problem}",
                fix="pass only the bucket's name, e.g. ?bucket=my-bucket",
            )
    target = bucket or "BUCKET"
    instructions = []
    if email is None:
        instructions.append(
            "This server has no GCS service account configured (INSITU_GCS_SERVICE_ACCOUNT_EMAIL, "
            "INSITU_GCS_SERVICE_ACCOUNT_TEMPLATE or INSITU_GCS_CREDENTIALS_FILE): ask its operator "
            "which account to grant."
        )
    elif not settings.gcs_service_account_template:
        instructions.append(_shared_notice(email, settings))
    instructions += [
        f"In the Google Cloud console, open Cloud Storage > gs://{target} > Permissions > "
        f"Grant access, add {member} as a principal with the role Storage Object Viewer "
        f"({READER_ROLE}); or run the grant command.",
        f"Optionally also grant {CORS_READER_ROLE}, so Verify access can check the bucket's "
        "CORS configuration (objectViewer cannot read it).",
        "Then apply the CORS rules from GET /v1/cors?provider=gcs, and import an absolute path "
        f"such as gs://{target}/test-images/ after POST /v1/connections/{{id}}/verify passes.",
    ]
    return GcsSettingsRead(
        service_account_email=email,
        per_organization=bool(settings.gcs_service_account_template),
        role=READER_ROLE,
        bucket=bucket,
        grant=_grant(target, member, READER_ROLE) if bucket else None,
        optional_grants=[_grant(target, member, CORS_READER_ROLE)],
        instructions=instructions,
    )


def _shared_notice(email: str, settings: Settings) -> str:
    """Say plainly that one account serves every org, and what that means here."""
    notice = (
        f"{email} is shared by all organizations on this server, not this organization's own: "
        "any organization here could import a bucket granted to it."
    )
    if settings.single_tenant:
        return notice + " This server is declared single-tenant (INSITU_SINGLE_TENANT)."
    if not settings.shared_identity_allowed:
        return notice + (
            " So this server refuses GCS connections until its operator gives each "
            "organization its own account (INSITU_GCS_SERVICE_ACCOUNT_TEMPLATE), or declares "
            "a single-organization deployment (INSITU_SINGLE_TENANT=true)."
        )
    return notice + (
        " Grant it only buckets every organization here may read; the operator gives each "
        "organization its own account with INSITU_GCS_SERVICE_ACCOUNT_TEMPLATE."
    )


def _grant(bucket: str, email: str, role: str) -> GcsGrant:
    return GcsGrant(
        role=role,
        bucket=f"gs://{bucket}",
        member=f"serviceAccount:{email}",
        command=grant_command(bucket, email, role),
    )


def _key_file_email(settings: Settings) -> str | None:
    if settings.gcs_service_account_email or settings.gcs_service_account_template:
        return None
    if not settings.gcs_credentials_file:
        return None
    try:
        email = json.loads(settings.gcs_credentials_file.read_text())["client_email"]
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidConfiguration(
            f"INSITU_GCS_CREDENTIALS_FILE {str(settings.gcs_credentials_file)!r} is not a "
            f"service account key file: {exc!r}",
            fix="point it at a key JSON from: gcloud iam service-accounts keys create key.json "
            "--iam-account=SERVICE_ACCOUNT_EMAIL",
        ) from exc
    return str(email)
