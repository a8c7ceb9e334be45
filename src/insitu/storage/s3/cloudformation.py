"""The CloudFormation template that creates a customer role for insitu: pure, no SDK.

The role trusts only the org's platform role, and only with the org's external ID; its one
inline policy reads the buckets named (and, if a KMS key is given, decrypts with it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from insitu.storage.s3.policies import POLICY_VERSION, trust_policy

FILENAME = "insitu-read-role.yaml"
STACK_NAME = "insitu-read-role"


def read_policy(buckets: Sequence[str], kms_key_arn: str | None = None) -> dict[str, Any]:
    """The customer role's identity policy: list and read ``buckets``, nothing else."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "InsituListBuckets",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetBucketCors"],
            "Resource": [f"arn:aws:s3:::{bucket}" for bucket in buckets],
        },
        {
            "Sid": "InsituReadObjects",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [f"arn:aws:s3:::{bucket}/*" for bucket in buckets],
        },
    ]
    if kms_key_arn:
        statements.append(
            {"Sid": "InsituDecrypt", "Effect": "Allow", "Action": "kms:Decrypt",
             "Resource": kms_key_arn}
        )  # fmt: skip
    return {"Version": POLICY_VERSION, "Statement": statements}


def template(
    *,
    org_id: str,
    platform_role_arn: str,
    external_id: str,
    buckets: Sequence[str],
    kms_key_arn: str | None = None,
) -> dict[str, Any]:
    """The template as a document: one IAM role and its read-only inline policy."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Read-only role that insitu assumes for organization {org_id}",
        "Parameters": {
            "RoleName": {
                "Type": "String",
                "Default": f"insitu-read-{org_id[:16]}",
                "AllowedPattern": r"[\w+=,.@-]{1,64}",
                "Description": "Name of the role to create (connect it with mode customer_role)",
            }
        },
        "Resources": {
            "InsituReadRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": {"Ref": "RoleName"},
                    "Description": "insitu reads these buckets and signs URLs; it writes nothing",
                    "AssumeRolePolicyDocument": trust_policy(platform_role_arn, external_id),
                    "MaxSessionDuration": 3600,
                    "Policies": [
                        {
                            "PolicyName": "insitu-read",
                            "PolicyDocument": read_policy(buckets, kms_key_arn),
                        }
                    ],
                },
            }
        },
        "Outputs": {
            "RoleArn": {
                "Description": "Give this ARN to insitu as the connection's role_arn",
                "Value": {"Fn::GetAtt": ["InsituReadRole", "Arn"]},
            }
        },
    }


def template_yaml(**kwargs: Any) -> str:
    """The template as the YAML file customers deploy."""
    return yaml.safe_dump(template(**kwargs), sort_keys=False, width=100)


def deploy_command() -> str:
    """The AWS CLI commands deploying the template and printing the role's ARN."""
    return (
        f"aws cloudformation deploy --template-file {FILENAME} --stack-name {STACK_NAME} "
        "--capabilities CAPABILITY_NAMED_IAM\n"
        f"aws cloudformation describe-stacks --stack-name {STACK_NAME} "
        "--query \"Stacks[0].Outputs[?OutputKey=='RoleArn'].OutputValue\" --output text"
    )
