from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Org


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


def test_aws_settings_give_role_external_id_and_policies(
    api: TestClient, monkeypatch, settings
) -> None:  # type: ignore[no-untyped-def]
    from insitu.config import get_settings

    monkeypatch.setenv(
        "INSITU_AWS_PLATFORM_ROLE_TEMPLATE", "arn:aws:iam::123456789012:role/insitu-org-{org_id}"
    )
    get_settings.cache_clear()
    api.app.state.settings = get_settings()  # type: ignore[attr-defined]
    body = api.get("/v1/organization/aws", params={"bucket": "scans"}).json()
    org_id = api.get("/v1/organization").json()["id"]
    assert body["platform_role_arn"] == f"arn:aws:iam::123456789012:role/insitu-org-{org_id}"
    assert len(body["external_id"]) >= 32
    statements = body["bucket_policy"]["Statement"]
    assert any("arn:aws:s3:::scans/*" in str(s["Resource"]) for s in statements)
    assert all(s["Principal"] == {"AWS": body["platform_role_arn"]} for s in statements)
    condition = body["trust_policy"]["Statement"][0]["Condition"]
    assert condition == {"StringEquals": {"sts:ExternalId": body["external_id"]}}


def test_external_ids_differ_between_organizations(
    client: TestClient, org: Org, other_org: Org
) -> None:
    first = client.get("/v1/organization/aws", headers=org.headers).json()["external_id"]
    second = client.get("/v1/organization/aws", headers=other_org.headers).json()["external_id"]
    assert first != second
