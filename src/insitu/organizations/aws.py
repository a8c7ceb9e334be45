"""What a customer applies in its own AWS account to let insitu read a bucket."""

from __future__ import annotations

from insitu.config import Settings
from insitu.organizations.models import Organization
from insitu.organizations.schemas import AwsSettingsRead
from insitu.organizations.service import external_id
from insitu.storage.s3.policies import bucket_policy, platform_role_arn, trust_policy


def settings_for(org: Organization, *, settings: Settings, bucket: str | None) -> AwsSettingsRead:
    role_arn = (
        platform_role_arn(settings.aws_platform_role_template, org.id)
        if settings.aws_platform_role_template
        else None
    )
    org_external_id = external_id(org, settings=settings)
    instructions = []
    if role_arn is None:
        instructions.append(
            "This server has no per-organization AWS role (INSITU_AWS_PLATFORM_ROLE_TEMPLATE "
            "is unset): it reads buckets with its own AWS identity."
        )
    else:
        instructions += [
            f"Platform role: apply bucket_policy to your bucket to let {role_arn} read it "
            "(aws s3api put-bucket-policy --bucket BUCKET --policy file://policy.json).",
            "Customer role: create a role with trust_policy as its trust relationship and "
            "read access to the bucket, then connect it with mode customer_role.",
        ]
    instructions.append("Then apply the CORS rules from GET /v1/cors?provider=s3.")
    return AwsSettingsRead(
        platform_role_arn=role_arn,
        external_id=org_external_id,
        bucket=bucket,
        bucket_policy=bucket_policy(role_arn, bucket) if role_arn and bucket else None,
        trust_policy=trust_policy(role_arn, org_external_id) if role_arn else None,
        instructions=instructions,
    )
