"""The "Amazon S3 Integration" settings card: role, external ID, policies, CloudFormation."""

from __future__ import annotations

import re

from insitu.storage.cards import (
    CardBlock,
    CardContext,
    CardFact,
    CardInput,
    SettingsCard,
    checked,
    checked_one,
)
from insitu.storage.s3 import cloudformation
from insitu.storage.s3.policies import (
    bucket_policy,
    bucket_problem,
    cors_configuration,
    dumps,
    kms_statement,
    platform_role_arn,
    put_bucket_policy_command,
    put_cors_command,
    trust_policy,
)

PLACEHOLDER_BUCKET = "BUCKET"
_KMS_KEY = re.compile(
    r"^arn:aws(?:-cn|-us-gov|-iso|-iso-b)?:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{1,128}$"
)


def settings_card(context: CardContext) -> SettingsCard:
    """The org's AWS identities and every document a customer applies, for the buckets typed."""
    settings = context.settings
    buckets = checked(
        context,
        "bucket",
        bucket_problem,
        example="my-bucket",
        clean=lambda v: v.removeprefix("s3://"),
    )
    buckets = [bucket.strip("/") for bucket in buckets]
    kms_key = checked_one(
        context,
        "kms_key",
        lambda v: None if _KMS_KEY.match(v) else "it is not a KMS key ARN",
        example="arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )
    targets = buckets or [PLACEHOLDER_BUCKET]
    role_arn = (
        platform_role_arn(settings.aws_platform_role_template, context.org_id)
        if settings.aws_platform_role_template
        else None
    )
    card = SettingsCard(
        provider="s3",
        title="Amazon S3 Integration",
        summary=(
            "insitu reads your bucket with read-only access and signs short-lived URLs. Either "
            "let this organization's platform role read the bucket (bucket policy), or create "
            "a role of your own that it may assume with your external ID (customer role)."
        ),
        facts=[
            CardFact("platform_role_arn", "Platform role ARN", role_arn),
            CardFact("external_id", "External ID", context.external_id),
        ],
        inputs=[
            CardInput(
                "bucket",
                "Bucket names",
                "my-bucket",
                tuple(buckets),
                multiple=True,
                help="The policies, the CORS command and the CloudFormation template name them.",
            ),
            CardInput(
                "kms_key",
                "KMS key ARN (only for SSE-KMS encrypted data)",
                "arn:aws:kms:REGION:ACCOUNT_ID:key/KEY_ID",
                (kms_key,) if kms_key else (),
            ),
        ],
    )
    if role_arn is None:
        card.warnings.append(
            "This server has no per-organization AWS role (INSITU_AWS_PLATFORM_ROLE_TEMPLATE is "
            "unset): it reads buckets with its own AWS identity; ask its operator which "
            "principal to grant, or connect with the store's own access keys."
        )
    else:
        card.blocks.extend(_role_blocks(context, role_arn, buckets, targets, kms_key))
    card.blocks.extend(_cors_blocks(context, targets))
    return card


def _cors_blocks(context: CardContext, targets: list[str]) -> list[CardBlock]:
    return [
        CardBlock(
            "cors",
            "CORS configuration (cors.json)",
            "json",
            dumps(cors_configuration(context.portal_origins)),
            "Lets browsers on the portal's origins GET and HEAD objects. put-bucket-cors "
            "replaces the bucket's whole CORS configuration: merge any rules you already have.",
            filename="cors.json",
        ),
        CardBlock(
            "cors_command",
            "Apply the CORS configuration",
            "shell",
            "\n".join(put_cors_command(bucket) for bucket in targets),
        ),
    ]


def _role_blocks(
    context: CardContext,
    role_arn: str,
    buckets: list[str],
    targets: list[str],
    kms_key: str | None,
) -> list[CardBlock]:
    blocks = [
        CardBlock(
            "bucket_policy" if index == 0 else f"bucket_policy_{index + 1}",
            f"Bucket policy for s3://{bucket} (platform role)",
            "json",
            dumps(bucket_policy(role_arn, bucket)),
            f"Lets {role_arn} list and read the bucket. Apply it with the command below "
            "(merge it into the bucket's policy if it already has one).",
            filename="policy.json",
        )
        for index, bucket in enumerate(targets)
    ]
    blocks += [
        CardBlock(
            "bucket_policy_command",
            "Apply the bucket policy",
            "shell",
            "\n".join(put_bucket_policy_command(bucket) for bucket in targets),
        ),
        CardBlock(
            "trust_policy",
            "Trust policy (customer role)",
            "json",
            dumps(trust_policy(role_arn, context.external_id)),
            "The trust relationship of your own role: only this organization's platform role "
            "may assume it, and only with your external ID.",
        ),
        CardBlock(
            "read_policy",
            "Permissions policy (customer role)",
            "json",
            dumps(cloudformation.read_policy(targets, kms_key)),
            "The role's only permissions: list and read the buckets named.",
        ),
        CardBlock(
            "cloudformation",
            "CloudFormation template (customer role)",
            "yaml",
            cloudformation.template_yaml(
                org_id=context.org_id,
                platform_role_arn=role_arn,
                external_id=context.external_id,
                buckets=targets,
                kms_key_arn=kms_key,
            ),
            "Creates the role with the trust policy and permissions above; then connect it "
            "with mode customer_role and the RoleArn output."
            + ("" if buckets else " Name your buckets above to download it."),
            filename=cloudformation.FILENAME if buckets else None,
        ),
        CardBlock(
            "cloudformation_command",
            "Deploy the template",
            "shell",
            cloudformation.deploy_command(),
        ),
        CardBlock(
            "kms_statement",
            "Key policy statement (SSE-KMS only)",
            "json",
            dumps(kms_statement(role_arn, kms_key or "KEY_ARN")),
            "Data encrypted with SSE-KMS also needs kms:Decrypt on the key: add this statement "
            f"to the key policy of {kms_key or 'your key'} (for a customer role, name that role "
            "as the principal instead).",
        ),
    ]
    return blocks
