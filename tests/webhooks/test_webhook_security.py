"""Webhook endpoints: where insitu refuses to send, who may see them, and their secrets."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from insitu.config import Settings
from insitu.db import session_scope
from insitu.jobs.inline import InlineBackend
from insitu.organizations import service as organizations
from insitu.rotation import encrypted_columns
from insitu.security import SecretBox
from insitu.webhooks.delivery import deliver
from insitu.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import Org
from tests.webhooks.receiver import receiver
from tests.webhooks.test_webhooks import deliveries, register


def refused(api: TestClient, url: str) -> dict[str, Any]:
    response = api.post("/v1/webhooks", json={"url": url, "event_types": ["import.finished"]})
    assert response.status_code == 422, response.text
    body: dict[str, Any] = response.json()
    assert body["fix"], body
    return body


def test_a_metadata_address_is_refused_even_when_private_endpoints_are_allowed(
    api: TestClient, settings: Settings
) -> None:
    settings.private_endpoints = ["169.254.169.254", "0.0.0.0/0"]
    body = refused(api, "http://169.254.169.254/latest/meta-data/")
    assert "link-local" in body["detail"]


def test_a_private_address_the_operator_did_not_allow_is_refused(api: TestClient) -> None:
    body = refused(api, "http://10.1.2.3:8080/hooks")
    assert "non-public address" in body["detail"]
    assert "INSITU_PRIVATE_ENDPOINTS=10.1.2.3:8080" in body["fix"]


def test_a_name_that_resolves_to_loopback_is_refused_unless_allowed(
    api: TestClient, settings: Settings
) -> None:
    settings.private_endpoints = []
    body = refused(api, "http://localhost:9/hooks")
    assert "127.0.0.1" in body["detail"] or "::1" in body["detail"]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://hooks.example.com/x", "not an http(s) URL"),
        ("https://user:pw@127.0.0.1/x", "user name or password"),
        ("https://127.0.0.1/x#frag", "#fragment"),
        ("http://127.1/x", "shorthand"),
    ],
)
def test_urls_that_are_not_plain_web_addresses_are_refused(
    api: TestClient, url: str, why: str
) -> None:
    assert why in refused(api, url)["detail"]


def test_plain_http_to_the_internet_is_refused_in_production(
    api: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "environment", "production")
    # 8.8.8.8 is public, so only the scheme stands in the way.
    assert "plain http" in refused(api, "http://8.8.8.8/hooks")["detail"]
    # A receiver the operator allowed on a private network may use http.
    created = register(api, "http://127.0.0.1:9/hooks", "import.finished")
    assert created["url"] == "http://127.0.0.1:9/hooks"


def test_a_redirect_is_recorded_not_followed(api: TestClient, worker: InlineBackend) -> None:
    with receiver(200) as elsewhere, receiver((302, {"Location": "PLACEHOLDER"})) as hook:
        hook.answers = [(302, {"Location": elsewhere.url})]
        webhook = register(api, hook.url, "assets.removed")
        api.post(f"/v1/webhooks/{webhook['id']}/ping")
        worker.join()
    assert len(hook.requests) == 1 and elsewhere.requests == []
    [delivery] = deliveries(api, webhook["id"])
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] == 302
    assert "redirect" in attempt["error"] and "does not follow" in attempt["error"]
    assert delivery["status"] == "pending" and delivery["next_attempt_at"] is not None


def test_each_send_checks_the_address_again(
    api: TestClient, worker: InlineBackend, settings: Settings
) -> None:
    with receiver(200) as hook:
        webhook = register(api, hook.url, "assets.removed")
        settings.private_endpoints = []  # the operator closed it since
        api.post(f"/v1/webhooks/{webhook['id']}/ping")
        worker.join()
    assert hook.requests == []
    [attempt] = deliveries(api, webhook["id"])[0]["attempts"]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("not sent:") and "non-public" in attempt["error"]


def test_another_org_cannot_see_or_touch_a_webhook(
    api: TestClient, worker: InlineBackend, other_org: Org
) -> None:
    webhook = register(api, "http://127.0.0.1:9/hooks", "import.finished")
    theirs = other_org.headers
    assert api.get("/v1/webhooks", headers=theirs).json() == []
    for method, path in [
        ("GET", ""),
        ("GET", "/deliveries"),
        ("POST", "/ping"),
        ("DELETE", ""),
    ]:
        response = api.request(method, f"/v1/webhooks/{webhook['id']}{path}", headers=theirs)
        assert response.status_code == 404, (method, path, response.text)
    assert [w["id"] for w in api.get("/v1/webhooks").json()] == [webhook["id"]]


def test_a_labeler_key_may_not_manage_webhooks(api: TestClient, org: Org) -> None:
    webhook = register(api, "http://127.0.0.1:9/hooks", "import.finished")
    with session_scope() as session:
        _, key = organizations.issue_api_key(
            session, org=organizations.get(session, org_id=org.id), name="tool", scope="labeler"
        )
    labeler = {"Authorization": f"Bearer {key}"}
    assert api.get("/v1/webhooks", headers=labeler).status_code == 403
    assert api.get(f"/v1/webhooks/{webhook['id']}/deliveries", headers=labeler).status_code == 403
    create = {"url": "http://127.0.0.1:9/x", "event_types": ["import.finished"]}
    assert api.post("/v1/webhooks", json=create, headers=labeler).status_code == 403


def test_the_secret_is_shown_once_and_stored_encrypted(api: TestClient, settings: Settings) -> None:
    webhook = register(api, "http://127.0.0.1:9/hooks", "import.finished", "assets.removed")
    secret = webhook["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    listed = api.get("/v1/webhooks").text + api.get(f"/v1/webhooks/{webhook['id']}").text
    assert secret not in listed and "secret" not in listed
    with session_scope() as session:
        row = session.scalars(select(WebhookEndpoint)).one()
        assert secret not in row.secret_encrypted
        assert SecretBox(settings.secret_keys).decrypt(row.secret_encrypted) == secret
    assert ("webhook_endpoints", "secret_encrypted") in {
        (table.name, column.name) for table, column in encrypted_columns()
    }


def test_unknown_event_types_are_refused_with_the_known_ones(api: TestClient) -> None:
    response = api.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "event_types": ["asset.deleted"]}
    )
    assert response.status_code == 422
    assert "'asset.deleted'" in response.json()["detail"]
    assert "assets.removed" in response.json()["fix"]


def test_deleting_a_webhook_is_audited_and_drops_what_it_had_still_to_send(
    api: TestClient, worker: InlineBackend, settings: Settings
) -> None:
    with receiver(500) as hook:
        webhook = register(api, hook.url, "assets.removed")
        api.post(f"/v1/webhooks/{webhook['id']}/ping")
        worker.join()
        [pending] = deliveries(api, webhook["id"])
        assert pending["status"] == "pending"
        assert api.delete(f"/v1/webhooks/{webhook['id']}").status_code == 204
        assert api.get(f"/v1/webhooks/{webhook['id']}").status_code == 404
        assert api.get("/v1/webhooks").json() == []
        # A retry that comes due finds nothing to send.
        assert deliver(pending["id"], settings=settings) is None
        assert len(hook.requests) == 1
    with session_scope() as session:
        assert session.get_one(WebhookDelivery, pending["id"]).status == "failed"
    actions = [e["action"] for e in api.get("/v1/audit").json()["items"]]
    assert actions[:2] == ["webhook.deleted", "webhook.created"]


def test_deliveries_are_listed_newest_first_a_page_at_a_time(
    api: TestClient, worker: InlineBackend
) -> None:
    with receiver(200) as hook:
        webhook = register(api, hook.url, "assets.removed")
        sent = [api.post(f"/v1/webhooks/{webhook['id']}/ping").json()["delivery_id"]
                for _ in range(3)]  # fmt: skip
        worker.join()
    url = f"/v1/webhooks/{webhook['id']}/deliveries"
    first = api.get(url, params={"limit": 2}).json()
    second = api.get(url, params={"limit": 2, "after": first["next"]}).json()
    assert [d["id"] for d in first["items"] + second["items"]] == sent[::-1]
    assert second["next"] is None


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]:9/hooks",
        "http://[0:0:0:0:0:0:0:1]/hooks",
        "http://0.0.0.0/hooks",
        "http://[::]/hooks",
        "http://2130706433/hooks",  # 127.0.0.1 as one decimal number
        "http://2852039166/hooks",  # 169.254.169.254 likewise
        "http://0x7f000001/hooks",
        "http://0177.0.0.1/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://[::ffff:a9fe:a9fe]/hooks",  # the metadata service, IPv4-mapped
        "http://[64:ff9b::a9fe:a9fe]/hooks",  # ... through NAT64
        "http://[2002:a9fe:a9fe::]/hooks",  # ... through 6to4
        "http://[fd00:ec2::254]/hooks",  # EC2's IPv6 metadata service
        "http://100.100.100.200/hooks",  # Alibaba's metadata service (shared address space)
        "http://LOCALHOST./hooks",
        "http://127.0.0.1:5432/",  # the platform's own database
        "https://8.8.8.8\\@127.0.0.1/hooks",
    ],
)
def test_internal_addresses_in_any_spelling_are_refused(
    api: TestClient, settings: Settings, url: str
) -> None:
    settings.private_endpoints = []
    refused(api, url)
    assert api.get("/v1/webhooks").json() == []


def test_a_delivery_whose_secret_no_key_decrypts_fails_at_once_saying_why(
    api: TestClient, worker: InlineBackend
) -> None:
    from sqlalchemy import update

    from insitu.db import session_scope
    from insitu.security import SecretBox
    from insitu.webhooks.models import WebhookEndpoint

    with receiver(200) as hook:
        webhook = register(api, hook.url, "import.finished")
        # Encrypted with a key that has since left INSITU_SECRET_KEYS.
        lost = SecretBox(["a-key-no-longer-in-the-ring"]).encrypt("whsec_x")
        with session_scope() as session:
            session.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == webhook["id"])
                .values(secret_encrypted=lost)
            )
        assert api.post(f"/v1/webhooks/{webhook['id']}/ping").status_code in (200, 202)
        worker.join()
        [delivery] = deliveries(api, webhook["id"])
        assert delivery["status"] == "failed"
        assert "cannot be decrypted" in delivery["last_error"]
        assert hook.requests == []
