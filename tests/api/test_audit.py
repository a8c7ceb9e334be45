"""The audit log: what each org did is in its own log, with who, from where; nothing else is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from insitu.api.ratelimit import RateLimiter
from insitu.audit.denials import DenialBudget
from insitu.audit.models import AuditEvent
from insitu.db import session_scope
from insitu.jobs.inline import InlineBackend
from insitu.organizations.models import ApiKey
from insitu.security import hash_api_key
from tests.conftest import OPERATOR, Org, make_org
from tests.images import png

UA_A = "acme-labeler/1.0"


def key_id(org: Org) -> str:
    with session_scope() as session:
        return session.scalars(
            select(ApiKey.id).where(ApiKey.key_hash == hash_api_key(org.key))
        ).one()


def log(client: TestClient, org: Org, **params: object) -> list[dict[str, object]]:
    response = client.get("/v1/audit", params={"limit": 1000, **params}, headers=org.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next"] is None
    return body["items"]


# The first events of every org, oldest last: the operator created it and its first key.
ORG_CREATED = ["api_key.created", "organization.created"]


def assert_org_created(events: list[dict[str, object]], org: Org) -> None:
    """``events`` are the org's creation by the operator, then that of its first key."""
    assert [(e["action"], e["actor"], e["outcome"]) for e in events] == [
        ("api_key.created", "operator", "ok"),
        ("organization.created", "operator", "ok"),
    ]
    key, created = events
    assert key["target"] == {"type": "api_key", "id": key_id(org)}
    assert key["details"] == {
        "name": "default",
        "scope": "admin",
        "prefix": org.key[:12],
        "expires_at": None,
    }
    assert created["target"] == {"type": "organization", "id": org.id}
    # No request made them: no address or user agent to show.
    assert all(e["client_address"] is None and e["user_agent"] is None for e in events)


def act_as_a(
    client: TestClient, org: Org, worker: InlineBackend, data_root: Path
) -> dict[str, str]:
    """Org A connects, verifies, imports, cancels, signs a URL and deletes its connection."""
    (data_root / "x.png").write_bytes(png())
    headers = {**org.headers, "User-Agent": UA_A}
    connection = client.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(data_root)}},
        headers={**headers, **OPERATOR},
    ).json()
    verified = client.post(
        f"/v1/connections/{connection['id']}/verify",
        json={"source": f"file://{data_root}/"},
        headers=headers,
    )
    assert verified.status_code == 200, verified.text
    project = client.post("/v1/projects", json={"name": "p"}, headers=headers).json()
    job = client.post(
        f"/v1/projects/{project['id']}/imports",
        json={"source": f"file://{data_root}/", "connection_id": connection["id"]},
        headers=headers,
    ).json()
    worker.join()
    assert client.post(f"/v1/imports/{job['id']}/cancel", headers=headers).status_code == 200
    asset = client.get(f"/v1/projects/{project['id']}/assets", headers=headers).json()["items"][0]
    assert client.get(f"/v1/assets/{asset['id']}/url", headers=headers).status_code == 200
    # Only the operator may connect a directory: without the operator key this is refused.
    refused = client.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(data_root)}},
        headers=headers,
    )
    assert refused.status_code == 403 and refused.json()["error"] == "operator_only"
    deleted = client.delete(f"/v1/connections/{connection['id']}", headers=headers)
    assert deleted.status_code == 204
    return {"connection": connection["id"], "job": job["id"], "asset": asset["id"]}


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_each_action_is_in_the_orgs_own_log_with_actor_address_and_user_agent(
    client: TestClient, org: Org, other_org: Org, worker: InlineBackend, data_root: Path
) -> None:
    ids = act_as_a(client, org, worker, data_root)
    events = log(client, org)
    by_action = {event["action"]: event for event in events}
    assert list(by_action) == [
        "connection.deleted",
        "request.denied",
        "url.issued",
        "import.canceled",
        "import.created",
        "connection.verified",
        "connection.created",
        *ORG_CREATED,
    ]
    me = key_id(org)
    assert_org_created(events[-2:], org)
    for event in events[:-2]:
        assert event["client_address"] == "testclient", event
        assert event["user_agent"] == UA_A, event
    assert by_action["connection.created"]["actor"] == "operator"
    assert by_action["connection.created"]["target"] == {
        "type": "connection",
        "id": ids["connection"],
    }
    assert by_action["connection.verified"]["actor"] == me
    assert by_action["connection.verified"]["details"]["ok"] is True
    assert by_action["connection.verified"]["details"]["failed"] == []
    assert by_action["import.created"]["target"] == {"type": "import", "id": ids["job"]}
    assert by_action["import.canceled"]["details"]["was"] == "succeeded"
    assert by_action["url.issued"]["actor"] == me
    assert by_action["url.issued"]["target"] == {"type": "asset", "id": ids["asset"]}
    assert "expires_at" in by_action["url.issued"]["details"]
    denied = by_action["request.denied"]
    assert (denied["actor"], denied["outcome"]) == (me, "denied")
    assert denied["details"] == {
        "method": "POST",
        "path": "/v1/connections",
        "error": "operator_only",
    }
    assert by_action["connection.deleted"]["actor"] == me

    # Newest first, by time.
    times = [event["at"] for event in events]
    assert times == sorted(times, reverse=True)
    # The other org sees none of it (only its own creation), even asking for these very actions.
    assert [event["action"] for event in log(client, other_org)] == ORG_CREATED
    assert log(client, other_org, action=["url.issued", "connection.created"]) == []
    exported = client.get("/v1/audit/export", headers=other_org.headers)
    assert exported.status_code == 200
    # Reading the log is on it too: the export itself comes first.
    assert [json.loads(line)["action"] for line in exported.text.splitlines()] == [
        "audit.exported",
        *ORG_CREATED,
    ]


def test_denied_requests_are_recorded_in_the_keys_org_or_with_no_org(
    client: TestClient, org: Org, other_org: Org
) -> None:
    unknown = {"Authorization": "Bearer insitu_not-a-real-key", "User-Agent": "prober"}
    assert client.get("/v1/connections", headers=unknown).status_code == 401
    assert client.get("/v1/projects").status_code == 401  # no key at all
    revoked = make_org(client.app.state.settings, "revoked-co")  # type: ignore[attr-defined]
    revoked_key = key_id(revoked)
    with session_scope() as session:
        session.get_one(ApiKey, revoked_key).revoked_at = session.get_one(
            ApiKey, revoked_key
        ).created_at
    assert client.get("/v1/projects", headers=revoked.headers).status_code == 401

    # A key that no longer works is still traced to its org, which sees the attempt.
    second = Org(revoked.id, make_admin_key(revoked.id))
    events = log(client, second, action="request.denied")
    assert [(e["action"], e["actor"], e["outcome"]) for e in events] == [
        ("request.denied", revoked_key, "denied")
    ]
    assert events[0]["details"] == {
        "method": "GET",
        "path": "/v1/projects",
        "error": "unauthenticated",
    }
    # An unknown key belongs to no org: recorded, but in no org's log.
    assert_org_created(log(client, org), org)
    assert_org_created(log(client, other_org), other_org)
    with session_scope() as session:
        orphans = session.scalars(select(AuditEvent).where(AuditEvent.org_id.is_(None))).all()
    assert sorted((e.actor, e.user_agent or "", e.details["path"]) for e in orphans) == [
        ("anonymous", "prober", "/v1/connections"),
        ("anonymous", "testclient", "/v1/projects"),
    ]


def make_admin_key(org_id: str) -> str:
    from insitu.organizations import service as organizations

    with session_scope() as session:
        return organizations.create_api_key(
            session, org=organizations.get(session, org_id=org_id), name="second"
        )


def recorded_denials() -> int:
    with session_scope() as session:
        recorded = session.scalars(select(AuditEvent).where(AuditEvent.action == "request.denied"))
        return len(recorded.all())


def test_a_flood_of_bad_keys_records_only_the_budget(client: TestClient) -> None:
    state = client.app.state  # type: ignore[attr-defined]
    state.audit_denial_budget = DenialBudget(per_address=5, total=100)
    # Failed authentications are rate-limited long before 50; lift that limit so every bad
    # key reaches the audit log and only the denial budget stands between them and it.
    state.rate_limiter = RateLimiter(
        state.settings.model_copy(update={"auth_failures_per_minute": 100})
    )
    bad = {"Authorization": "Bearer insitu_flood"}
    for _ in range(50):
        assert client.get("/v1/projects", headers=bad).status_code == 401
    assert recorded_denials() == 5


def test_a_flood_of_bad_keys_meets_the_rate_limit_then_the_budget(client: TestClient) -> None:
    """With the default limits: 10 failures a minute are answered, 5 of them recorded."""
    state = client.app.state  # type: ignore[attr-defined]
    state.audit_denial_budget = DenialBudget(per_address=5, total=100)
    assert state.settings.auth_failures_per_minute == 10
    bad = {"Authorization": "Bearer insitu_flood"}
    statuses = [client.get("/v1/projects", headers=bad).status_code for _ in range(50)]
    assert statuses == [401] * 10 + [429] * 40
    # A request refused by the rate limit never reached authentication: nothing to record.
    assert recorded_denials() == 5


def test_the_denial_budget_says_how_many_went_unrecorded() -> None:
    budget = DenialBudget(per_address=2, total=3, window=60)
    assert [budget.admit("10.0.0.1", now=0) for _ in range(5)] == [0, 0, None, None, None]
    # The total is shared: a second address gets what is left of it.
    assert [budget.admit("10.0.0.2", now=1) for _ in range(2)] == [0, None]
    # In the next minute, the next one recorded carries the count of those that were not.
    assert budget.admit("10.0.0.1", now=61) == 3
    assert budget.admit("10.0.0.2", now=61) == 1


def test_pages_are_newest_first_and_stable_while_events_arrive(
    client: TestClient, org: Org
) -> None:
    def refused_local_connection() -> None:  # one request.denied in org A's log
        response = client.post(
            "/v1/connections",
            json={"provider": "local", "settings": {"root": "/"}},
            headers=org.headers,
        )
        assert response.status_code == 403

    for _ in range(5):
        refused_local_connection()
    everything = log(client, org)
    assert [event["action"] for event in everything] == ["request.denied"] * 5 + ORG_CREATED

    seen: list[str] = []
    after = None
    while True:
        params: dict[str, object] = {"limit": 2, **({"after": after} if after else {})}
        body = client.get("/v1/audit", params=params, headers=org.headers).json()
        seen += [item["id"] for item in body["items"]]
        # A new event between pages is newer than every page: it shifts nothing.
        refused_local_connection()
        after = body["next"]
        if after is None:
            break
    assert seen == [event["id"] for event in everything]


def test_export_is_json_lines_of_every_event(
    client: TestClient, org: Org, worker: InlineBackend, data_root: Path
) -> None:
    act_as_a(client, org, worker, data_root)
    events = log(client, org)
    response = client.get("/v1/audit/export", headers=org.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines[0]["action"] == "audit.exported" and lines[0]["actor"] == key_id(org)
    assert lines[1:] == events
    only = client.get("/v1/audit/export", params={"action": "url.issued"}, headers=org.headers)
    assert [json.loads(line)["action"] for line in only.text.splitlines()] == ["url.issued"]


def test_a_cursor_not_from_the_log_is_a_clear_422(client: TestClient, org: Org) -> None:
    response = client.get("/v1/audit", params={"after": "not-a-cursor"}, headers=org.headers)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_input" and "next" in body["fix"]
