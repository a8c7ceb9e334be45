"""API keys as an org's admin, a labeler and a hostile second org would use them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from insitu.api.deps import bearer_credentials, get_caller, get_reader
from insitu.audit.models import AuditEvent
from insitu.db import session_scope
from insitu.jobs.inline import InlineBackend
from insitu.organizations.models import ApiKey
from tests.conftest import OPERATOR, Org
from tests.images import png


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def new_key(api: TestClient, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/api-keys", json={"name": "tool", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
def asset(api: TestClient, worker: InlineBackend, data_root: Path) -> dict[str, str]:
    """One imported file, through a local connection, with its project."""
    (data_root / "scan.png").write_bytes(png(3, 2))
    connection = api.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(data_root)}},
        headers=OPERATOR,
    ).json()
    project = api.post("/v1/projects", json={"name": "p"}).json()
    body = {"source": f"file://{data_root}/", "connection_id": connection["id"]}
    assert api.post(f"/v1/projects/{project['id']}/imports", json=body).status_code == 202
    worker.join()
    [item] = api.get(f"/v1/projects/{project['id']}/assets").json()["items"]
    return {"id": item["id"], "project": project["id"], "connection": connection["id"]}


def test_a_created_key_shows_its_secret_once_and_works(api: TestClient) -> None:
    created = new_key(api, scope="labeler")
    assert created["secret"].startswith("insitu_") and created["scope"] == "labeler"
    assert created["prefix"] == created["secret"][:12] and created["revoked_at"] is None

    listing = api.get("/v1/api-keys")
    assert listing.status_code == 200
    by_id = {key["id"]: key for key in listing.json()}
    assert set(by_id[created["id"]]) == {
        "id",
        "name",
        "scope",
        "prefix",
        "created_at",
        "expires_at",
        "revoked_at",
    }
    assert created["secret"] not in listing.text and "hash" not in listing.text
    assert len(by_id) == 2  # the org's first key and this one

    assert api.get("/v1/projects", headers=bearer(created["secret"])).status_code == 200


def test_a_revoked_key_is_refused_on_its_next_request(
    api: TestClient, asset: dict[str, str]
) -> None:
    labeler = new_key(api, scope="labeler")
    url = f"/v1/assets/{asset['id']}/url"
    assert api.get(url, headers=bearer(labeler["secret"])).status_code == 200

    assert api.delete(f"/v1/api-keys/{labeler['id']}").status_code == 204
    for path in (url, f"/v1/assets/{asset['id']}", "/v1/projects"):
        refused = api.get(path, headers=bearer(labeler["secret"]))
        assert refused.status_code == 401, path
        assert (
            refused.json()["error"] == "unauthenticated" and "revoked" in refused.json()["detail"]
        )
    [listed] = [key for key in api.get("/v1/api-keys").json() if key["id"] == labeler["id"]]
    assert listed["revoked_at"] is not None


def test_an_expired_key_is_refused_saying_it_expired_and_how_to_get_another(
    api: TestClient, asset: dict[str, str]
) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    labeler = new_key(api, scope="labeler", expires_at=soon.isoformat())
    assert datetime.fromisoformat(labeler["expires_at"]) == soon
    url = f"/v1/assets/{asset['id']}/url"
    assert api.get(url, headers=bearer(labeler["secret"])).status_code == 200

    with session_scope() as session:  # the hour passes
        session.get_one(ApiKey, labeler["id"]).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    for path in (url, f"/v1/projects/{asset['project']}/assets"):
        refused = api.get(path, headers=bearer(labeler["secret"]))
        assert refused.status_code == 401, path
        body = refused.json()
        assert "expired" in body["detail"] and "new key" in body["fix"], body


@pytest.mark.parametrize(
    "expires_at",
    [
        (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "2031-01-01T00:00:00",  # no time zone: which midnight?
        "next tuesday",
    ],
    ids=["a minute ago", "no time zone", "not a time"],  # stable across test workers
)
def test_a_key_that_would_be_born_expired_or_ambiguous_is_refused(
    api: TestClient, expires_at: str
) -> None:
    response = api.post("/v1/api-keys", json={"name": "x", "expires_at": expires_at})
    assert response.status_code == 422, response.text
    assert response.json()["fix"]
    assert len(api.get("/v1/api-keys").json()) == 1


def test_an_unknown_scope_is_refused(api: TestClient) -> None:
    response = api.post("/v1/api-keys", json={"name": "x", "scope": "root"})
    assert response.status_code == 422


def test_another_orgs_key_cannot_be_seen_or_revoked(
    api: TestClient, org: Org, other_org: Org
) -> None:
    mine = new_key(api)
    theirs = bearer(other_org.key)
    assert mine["id"] not in {key["id"] for key in api.get("/v1/api-keys", headers=theirs).json()}
    refused = api.delete(f"/v1/api-keys/{mine['id']}", headers=theirs)
    assert refused.status_code == 404 and refused.json()["error"] == "not_found"
    assert api.get("/v1/projects", headers=bearer(mine["secret"])).status_code == 200


def test_the_orgs_last_admin_key_cannot_be_revoked_but_one_of_two_can(
    api: TestClient, org: Org
) -> None:
    [first] = api.get("/v1/api-keys").json()
    new_key(api, scope="labeler")  # a labeler key does not keep the org manageable
    refused = api.delete(f"/v1/api-keys/{first['id']}")
    assert refused.status_code == 409 and "last usable admin key" in refused.json()["detail"]
    assert "create another admin key" in refused.json()["fix"]

    second = new_key(api, scope="admin")
    assert api.delete(f"/v1/api-keys/{first['id']}").status_code == 204
    assert api.get("/v1/api-keys").status_code == 401  # that was the client's own key
    assert api.get("/v1/api-keys", headers=bearer(second["secret"])).status_code == 200


def test_labeler_reads_assets_and_their_urls_but_nothing_else(
    api: TestClient, asset: dict[str, str], org: Org
) -> None:
    labeler = bearer(new_key(api, scope="labeler")["secret"])
    for path in (
        "/v1/projects",
        f"/v1/projects/{asset['project']}",
        f"/v1/projects/{asset['project']}/assets",
        f"/v1/assets/{asset['id']}",
        f"/v1/assets/{asset['id']}/url",
    ):
        assert api.get(path, headers=labeler).status_code == 200, path

    attempts = [
        ("POST", "/v1/api-keys", {"name": "escalate", "scope": "admin"}),
        ("GET", "/v1/api-keys", None),
        ("POST", "/v1/projects", {"name": "mine now"}),
        ("GET", "/v1/connections", None),
        ("DELETE", f"/v1/connections/{asset['connection']}", None),
        ("GET", "/v1/organization", None),
        ("PATCH", "/v1/organization", {"name": "pwned"}),
        ("POST", f"/v1/projects/{asset['project']}/imports", {"source": "file:///"}),
        ("GET", f"/v1/projects/{asset['project']}/imports", None),
        # Who else got URLs, from which address: for admins only.
        ("GET", f"/v1/assets/{asset['id']}/url-issues", None),
    ]
    for method, path, body in attempts:
        response = api.request(method, path, json=body, headers=labeler)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"] == "forbidden" and "admin key" in response.json()["fix"]
    assert api.get("/v1/organization").json()["name"] == "acme"
    assert len(api.get("/v1/api-keys").json()) == 2


READER_ROUTES = {
    ("GET", "/v1/projects"),
    ("GET", "/v1/projects/{project_id}"),
    ("GET", "/v1/projects/{project_id}/assets"),
    ("GET", "/v1/assets/{asset_id}"),
    # A labeling client also says when an asset would not load.
    ("POST", "/v1/assets/{asset_id}/report"),
}


def _depends_on(route: APIRoute, function: object) -> bool:
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if dependant.call is function:
            return True
        pending.extend(dependant.dependencies)
    return False


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):  # an included router, as FastAPI keeps it
            found += _api_routes(route.original_router.routes)
    return found


def test_only_the_asset_reading_routes_accept_a_labeler_key(client: TestClient) -> None:
    """A route is admin-only unless it opts in: a new route is never open by mistake."""
    routes = _api_routes(client.app.routes)  # type: ignore[attr-defined]
    assert len(routes) > 20
    readers = {
        (method, route.path)
        for route in routes
        if _depends_on(route, get_reader)
        for method in route.methods
    }
    assert readers == READER_ROUTES
    for route in routes:
        assert not (_depends_on(route, get_reader) and _depends_on(route, get_caller)), route.path
    # The labeling hot paths (a signed URL, a batch from circulation) check the key themselves
    # (any scope) in their one worker-thread hop.
    by_key_alone = {
        (method, route.path)
        for route in routes
        if _depends_on(route, bearer_credentials)
        and not _depends_on(route, get_reader)
        and not _depends_on(route, get_caller)
        for method in route.methods
    }
    assert by_key_alone == {
        ("GET", "/v1/assets/{asset_id}/url"),
        ("GET", "/v1/projects/{project_id}/circulation"),
    }


def test_key_creation_and_revocation_are_audited_with_the_acting_key(
    api: TestClient, org: Org
) -> None:
    [admin] = api.get("/v1/api-keys").json()
    created = new_key(api, scope="labeler")
    api.delete(f"/v1/api-keys/{created['id']}", headers={"User-Agent": "keys-test"})
    with session_scope() as session:
        events = {
            event.action: event
            for event in session.query(AuditEvent).filter(AuditEvent.target_id == created["id"])
        }
    assert set(events) == {"api_key.created", "api_key.revoked"}
    for event in events.values():
        assert event.actor == admin["id"] and event.org_id == org.id
        assert event.client_address == "testclient" and event.outcome == "ok"
    assert events["api_key.revoked"].user_agent == "keys-test"
    assert events["api_key.created"].details["scope"] == "labeler"  # type: ignore[index]
    assert created["secret"] not in str(events["api_key.created"].details)


def test_an_admin_key_about_to_expire_does_not_count_as_the_one_left(api: TestClient) -> None:
    from datetime import UTC, datetime, timedelta

    soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    short = api.post("/v1/api-keys", json={"name": "soon", "expires_at": soon})
    assert short.status_code == 201, short.text
    lasting = [k for k in api.get("/v1/api-keys").json() if k["expires_at"] is None]
    refused = api.delete(f"/v1/api-keys/{lasting[0]['id']}")
    assert refused.status_code == 409 and "expires sooner" in refused.json()["detail"]
    # The short-lived one may go: a key that lasts longer stays.
    assert api.delete(f"/v1/api-keys/{short.json()['id']}").status_code == 204
