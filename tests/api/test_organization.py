from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from insitu.config import get_settings
from tests.conftest import Org
from tests.images import png

CFN_LINT = str(Path(sys.executable).with_name("cfn-lint"))
OPERATOR_KEY = "operator-key-for-tests-0123456789abcdef"


def test_requests_without_a_key_are_refused_with_a_fix(client: TestClient) -> None:
    response = client.get("/v1/organization")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["error"] == "unauthenticated"
    assert "Authorization: Bearer" in body["fix"]


def test_unknown_key_is_refused(client: TestClient) -> None:
    response = client.get("/v1/organization", headers={"Authorization": "Bearer insitu_nope"})
    assert response.status_code == 401


def test_organization_shows_and_changes_its_self_host_default(api: TestClient, org: Org) -> None:
    shown = api.get("/v1/organization").json()
    assert (shown["id"], shown["name"], shown["self_host_default"]) == (org.id, "acme", False)
    changed = api.patch("/v1/organization", json={"self_host_default": True})
    assert changed.status_code == 200
    assert api.get("/v1/organization").json()["self_host_default"] is True


def test_patch_refuses_unknown_fields(api: TestClient) -> None:
    response = api.patch("/v1/organization", json={"plan": "enterprise"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert "plan" in response.json()["detail"]


ROLE_TEMPLATE = "arn:aws:iam::123456789012:role/insitu-org-{org_id}"


@pytest.fixture
def platform_roles(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that gives each organization its own AWS platform role."""
    monkeypatch.setenv("INSITU_AWS_PLATFORM_ROLE_TEMPLATE", ROLE_TEMPLATE)
    get_settings.cache_clear()
    client.app.state.settings = get_settings()  # type: ignore[attr-defined]


def facts(card: dict[str, Any]) -> dict[str, Any]:
    return {fact["name"]: fact["value"] for fact in card["facts"]}


def block(card: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [b for b in card["blocks"] if b["name"] == name]
    return dict(found)


@pytest.mark.usefixtures("platform_roles")
def test_s3_card_gives_role_external_id_and_the_bucket_policy_for_the_bucket_typed(
    api: TestClient, org: Org
) -> None:
    card = api.get("/v1/organization/s3", params={"bucket": "scans"}).json()
    assert card["title"] == "Amazon S3 Integration"
    role_arn, external_id = facts(card)["platform_role_arn"], facts(card)["external_id"]
    assert role_arn == f"arn:aws:iam::123456789012:role/insitu-org-{org.id}"
    assert len(external_id) >= 32
    policy = json.loads(block(card, "bucket_policy")["content"])
    resources = [statement["Resource"] for statement in policy["Statement"]]
    assert resources == ["arn:aws:s3:::scans/*", "arn:aws:s3:::scans"]
    assert all(s["Principal"] == {"AWS": role_arn} for s in policy["Statement"])
    trust = json.loads(block(card, "trust_policy")["content"])
    assert trust["Statement"][0]["Principal"] == {"AWS": role_arn}
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"sts:ExternalId": external_id}}
    assert block(card, "cors_command")["content"] == (
        "aws s3api put-bucket-cors --bucket scans --cors-configuration file://cors.json"
    )
    cors = json.loads(block(card, "cors")["content"])
    assert cors["CORSRules"][0]["AllowedOrigins"] == card["portal_origins"]
    assert all(b["copyable"] for b in card["blocks"])
    [bucket_input] = [field for field in card["inputs"] if field["name"] == "bucket"]
    assert bucket_input["values"] == ["scans"] and bucket_input["multiple"] is True


@pytest.mark.usefixtures("platform_roles")
def test_s3_card_without_a_bucket_shows_placeholders_and_offers_no_template_download(
    api: TestClient,
) -> None:
    card = api.get("/v1/organization/s3").json()
    assert "arn:aws:s3:::BUCKET/*" in block(card, "bucket_policy")["content"]
    assert block(card, "cloudformation")["download_url"] is None
    response = api.get("/v1/organization/s3/files/cloudformation")
    assert response.status_code == 404
    assert "bucket" in response.json()["fix"]


@pytest.mark.usefixtures("platform_roles")
def test_s3_card_kms_statement_lets_the_role_decrypt(api: TestClient) -> None:
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    card = api.get("/v1/organization/s3", params={"bucket": "scans", "kms_key": key}).json()
    statement = json.loads(block(card, "kms_statement")["content"])
    assert statement["Action"] == "kms:Decrypt"
    assert statement["Principal"] == {"AWS": facts(card)["platform_role_arn"]}
    read_policy = json.loads(block(card, "read_policy")["content"])
    assert {
        "Sid": "InsituDecrypt",
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": key,
    } in (read_policy["Statement"])


@pytest.mark.usefixtures("platform_roles")
def test_cloudformation_template_creates_the_role_for_the_buckets_and_passes_cfn_lint(
    api: TestClient, tmp_path: Path
) -> None:
    card = api.get("/v1/organization/s3", params=[("bucket", "scans"), ("bucket", "raw")]).json()
    external_id = facts(card)["external_id"]
    url = block(card, "cloudformation")["download_url"]
    assert url == "/v1/organization/s3/files/cloudformation?bucket=scans&bucket=raw"
    response = api.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    assert response.headers["content-disposition"] == (
        'attachment; filename="insitu-read-role.yaml"'
    )
    assert response.text == block(card, "cloudformation")["content"]
    template = yaml.safe_load(response.text)
    role = template["Resources"]["InsituReadRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": facts(card)["platform_role_arn"]}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": external_id}}
    [policy] = role["Policies"]
    actions = {
        action
        for statement in policy["PolicyDocument"]["Statement"]
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    }
    assert actions == {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetBucketCors", "s3:GetObject"}
    resources = [r for s in policy["PolicyDocument"]["Statement"] for r in s["Resource"]]
    assert resources == [
        "arn:aws:s3:::scans", "arn:aws:s3:::raw", "arn:aws:s3:::scans/*", "arn:aws:s3:::raw/*"
    ]  # fmt: skip
    path = tmp_path / "insitu-read-role.yaml"
    path.write_text(response.text)
    lint = subprocess.run([CFN_LINT, str(path)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.usefixtures("platform_roles")
def test_s3_card_refuses_a_bucket_that_is_no_bucket_name(api: TestClient) -> None:
    response = api.get("/v1/organization/s3", params={"bucket": "My Bucket; rm -rf /"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"
    response = api.get("/v1/organization/s3", params={"region": "eu-west-1"})
    assert response.status_code == 422
    assert "bucket" in response.json()["fix"]


def test_s3_card_without_platform_roles_says_so_and_gives_no_role_documents(
    api: TestClient,
) -> None:
    card = api.get("/v1/organization/s3", params={"bucket": "scans"}).json()
    assert facts(card)["platform_role_arn"] is None
    assert any("INSITU_AWS_PLATFORM_ROLE_TEMPLATE" in warning for warning in card["warnings"])
    assert {b["name"] for b in card["blocks"]} == {"cors", "cors_command"}


@pytest.mark.usefixtures("platform_roles")
def test_a_second_organization_never_sees_the_first_ones_values(
    client: TestClient, org: Org, other_org: Org
) -> None:
    params = {"bucket": "scans"}
    first = client.get("/v1/organization/s3", params=params, headers=org.headers).json()
    second = client.get("/v1/organization/s3", params=params, headers=other_org.headers).json()
    assert facts(first)["external_id"] != facts(second)["external_id"]
    assert org.id not in json.dumps(second) and facts(first)["external_id"] not in json.dumps(
        second
    )
    template = client.get(
        "/v1/organization/s3/files/cloudformation", params=params, headers=other_org.headers
    ).text
    assert facts(first)["external_id"] not in template and org.id not in template


def test_every_provider_has_a_card_and_labeler_keys_get_none(client: TestClient, org: Org) -> None:
    created = client.post(
        "/v1/api-keys", json={"name": "tool", "scope": "labeler"}, headers=org.headers
    ).json()
    labeler = {"Authorization": f"Bearer {created['secret']}"}
    for provider in ("s3", "azure", "gcs", "local"):
        card = client.get(f"/v1/organization/{provider}", headers=org.headers)
        assert card.status_code == 200, card.text
        assert card.json()["provider"] == provider and card.json()["title"]
        refused = client.get(f"/v1/organization/{provider}", headers=labeler)
        assert refused.status_code == 403
    refused = client.get("/v1/organization/s3/files/cors", headers=labeler)
    assert refused.status_code == 403
    unknown = client.get("/v1/organization/dropbox", headers=org.headers)
    assert unknown.status_code in (400, 404, 422)


def test_card_lists_the_orgs_connections_newest_first_with_their_last_verify(
    client: TestClient, org: Org, other_org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSITU_LOCAL_ROOTS", str(tmp_path))
    monkeypatch.setenv("INSITU_OPERATOR_KEY", OPERATOR_KEY)
    get_settings.cache_clear()
    client.app.state.settings = get_settings()  # type: ignore[attr-defined]
    (tmp_path / "a.png").write_bytes(png())
    operator = {**org.headers, "X-Insitu-Operator-Key": OPERATOR_KEY}
    ids = [
        client.post(
            "/v1/connections",
            json={"provider": "local", "name": name, "settings": {"root": str(tmp_path)}},
            headers=operator,
        ).json()["id"]
        for name in ("first", "second")
    ]
    card = client.get("/v1/organization/local", headers=org.headers).json()
    assert [c["id"] for c in card["connections"]] == ids[::-1]
    assert all(c["last_verify"] is None for c in card["connections"])
    passed = client.post(
        f"/v1/connections/{ids[0]}/verify",
        json={"source": f"file://{tmp_path}/"},
        headers=org.headers,
    ).json()
    failing = client.post(
        f"/v1/connections/{ids[1]}/verify",
        json={"source": f"file://{tmp_path}/missing/"},
        headers=org.headers,
    ).json()
    assert not failing["ok"]
    first_failed = next(check for check in failing["checks"] if not check["ok"])
    shown = {
        c["id"]: c["last_verify"] for c in client.get("/v1/connections", headers=org.headers).json()
    }
    assert passed["ok"] and shown[ids[0]]["status"] == "passed", passed
    assert shown[ids[0]]["source"] == f"file://{tmp_path}/"
    assert (shown[ids[1]]["status"], shown[ids[1]]["check"], shown[ids[1]]["fix"]) == (
        "failed",
        first_failed["name"],
        first_failed["fix"],
    )
    card = client.get("/v1/organization/local", headers=org.headers).json()
    assert card["connections"][0]["last_verify"] == shown[ids[1]]
    assert (
        client.get("/v1/organization/local", headers=other_org.headers).json()["connections"] == []
    )
