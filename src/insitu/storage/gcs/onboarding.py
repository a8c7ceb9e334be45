"""The "Google Cloud" settings card: the service account to grant, the grant and CORS."""

from __future__ import annotations

import json

from insitu.config import Settings
from insitu.errors import InvalidConfiguration
from insitu.storage.cards import CardBlock, CardContext, CardFact, CardInput, SettingsCard, checked
from insitu.storage.gcs.policies import (
    CORS_READER_ROLE,
    PLACEHOLDER_EMAIL,
    READER_ROLE,
    bucket_problem,
    cors_command,
    cors_configuration,
    dumps,
    grant_command,
    service_account_email,
)

PLACEHOLDER_BUCKET = "BUCKET"


def settings_card(context: CardContext) -> SettingsCard:
    """The org's service account, the grant on each bucket typed, and the CORS rules."""
    settings = context.settings
    email = service_account_email(
        email=settings.gcs_service_account_email,
        template=settings.gcs_service_account_template,
        org_id=context.org_id,
        key_file_email=key_file_email(settings),
    )
    per_org = bool(settings.gcs_service_account_template)
    buckets = checked(
        context,
        "bucket",
        bucket_problem,
        example="my-bucket",
        clean=lambda value: value.removeprefix("gs://").strip("/"),
    )
    targets = buckets or [PLACEHOLDER_BUCKET]
    member = email or PLACEHOLDER_EMAIL
    card = SettingsCard(
        provider="gcs",
        title="Google Cloud",
        summary=(
            f"Grant the service account below {READER_ROLE} on each bucket, allow the portal's "
            "origins in the bucket's CORS, then verify access and import an absolute path "
            f"such as gs://{targets[0]}/images/."
        ),
        facts=[
            CardFact("service_account_email", "Service account", email),
            CardFact(
                "service_account_scope",
                "Whose account",
                "this organization's own" if per_org else "shared by every organization here",
                copyable=False,
            ),
            CardFact("role", "Role to grant", READER_ROLE),
        ],
        inputs=[
            CardInput("bucket", "Bucket names", "my-bucket", tuple(buckets), multiple=True),
        ],
        blocks=[
            CardBlock(
                "grant_command",
                "Grant read access",
                "shell",
                "\n".join(grant_command(bucket, member) for bucket in targets),
                f"Or in the console: Cloud Storage > the bucket > Permissions > Grant access, "
                f"add {member} with the role Storage Object Viewer.",
            ),
            CardBlock(
                "cors_reader_grant_command",
                "Optional: let Verify access read the bucket's CORS",
                "shell",
                "\n".join(grant_command(bucket, member, CORS_READER_ROLE) for bucket in targets),
                f"{READER_ROLE} cannot read the bucket's CORS configuration; {CORS_READER_ROLE} "
                "can, and writes nothing.",
            ),
            CardBlock(
                "cors",
                "CORS configuration (cors.json)",
                "json",
                dumps(cors_configuration(context.portal_origins)),
                "Lets browsers on the portal's origins GET and HEAD objects. The update "
                "replaces the bucket's whole CORS configuration: merge any entries you have.",
                filename="cors.json",
            ),
            CardBlock(
                "cors_command",
                "Apply the CORS configuration",
                "shell",
                "\n".join(cors_command(bucket) for bucket in targets),
            ),
        ],
    )
    if email is None:
        card.warnings.append(
            "This server has no GCS service account configured (INSITU_GCS_SERVICE_ACCOUNT_EMAIL, "
            "INSITU_GCS_SERVICE_ACCOUNT_TEMPLATE or INSITU_GCS_CREDENTIALS_FILE): ask its operator "
            "which account to grant."
        )
    elif not per_org:
        card.warnings.append(_shared_notice(email, settings))
    return card


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


def key_file_email(settings: Settings) -> str | None:
    """The account of INSITU_GCS_CREDENTIALS_FILE, when no email or template names one."""
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
