"""What an admin types into a settings card never reaches its commands or templates unchecked."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from insitu.config import get_settings
from tests.api.test_organization import ROLE_TEMPLATE

# Each would change the meaning of a shell command, or of the CloudFormation YAML, if copied in.
HOSTILE = ['a"b', "a'b", "ab\nrm -rf x", "a$(id)b", "a`id`b", "ab;id", "a\\bc", "ab|id", "ab&id"]
INPUTS = [
    ("s3", "bucket", None),
    ("s3", "kms_key", "arn:aws:kms:eu-west-1:123456789012:key/"),
    ("azure", "subscription", None),
    ("azure", "resource_group", None),
    ("azure", "storage_account", None),
    ("gcs", "bucket", None),
]


@pytest.mark.parametrize(("provider", "name", "prefix"), INPUTS)
def test_shell_and_yaml_metacharacters_are_refused_in_every_input(
    api: TestClient, provider: str, name: str, prefix: str | None
) -> None:
    for hostile in HOSTILE:
        value = (prefix or "") + hostile
        for path in (f"/v1/organization/{provider}", f"/v1/organization/{provider}/files/cors"):
            response = api.get(path, params={name: value})
            assert response.status_code == 422, (path, value, response.text)
            body = response.json()
            # Refused as an invalid value, or (split at the newline) as one value too many.
            said = (f"not a valid {name}", f"{name} takes one value")
            assert any(words in body["detail"] for words in said) and body["fix"], body


def test_the_cloudformation_download_is_refused_for_a_bucket_that_could_break_its_yaml(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSITU_AWS_PLATFORM_ROLE_TEMPLATE", ROLE_TEMPLATE)
    get_settings.cache_clear()
    api.app.state.settings = get_settings()  # type: ignore[attr-defined]
    path = "/v1/organization/s3/files/cloudformation"
    assert api.get(path, params={"bucket": "scans"}).status_code == 200
    for bucket in ("scans\n  - Effect: Allow", 'scans"', "scans: {}", "'scans'"):
        refused = api.get(path, params={"bucket": bucket})
        assert refused.status_code == 422, refused.text
        assert "Effect" not in refused.text and "AWSTemplateFormatVersion" not in refused.text


@pytest.mark.parametrize(
    ("provider", "name", "typed"),
    [
        ("azure", "resource_group", "my group"),
        ("azure", "storage_account", "first,second"),
        ("azure", "subscription",
         "00000000-0000-0000-0000-000000000000 11111111-1111-1111-1111-111111111111"),
        ("s3", "kms_key", "arn:aws:kms:eu-west-1:123456789012:key/a "
         "arn:aws:kms:eu-west-1:123456789012:key/b"),
    ],
)  # fmt: skip
def test_an_input_taking_one_value_refuses_two_instead_of_keeping_the_first(
    api: TestClient, provider: str, name: str, typed: str
) -> None:
    params = {name: typed} | ({"bucket": "scans"} if provider == "s3" else {})
    response = api.get(f"/v1/organization/{provider}", params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert f"{name} takes one value" in body["detail"]
    assert f"type only one {name}" in body["fix"]


def test_a_resource_group_with_parentheses_is_quoted_in_the_role_commands(
    api: TestClient,
) -> None:
    card = api.get("/v1/organization/azure", params={"resource_group": "rg(prod)"}).json()
    commands = next(b for b in card["blocks"] if "az role assignment create" in b["content"])
    for line in commands["content"].splitlines():
        assert "--scope '/subscriptions/SUB/resourceGroups/rg(prod)/providers/" in line, line
