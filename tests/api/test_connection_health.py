"""Access health on S3 (moto with CORS enforced): connections in use are verified on a schedule.

A revoked CORS configuration or a bucket gone turns the connection ``failing`` with the check
and its fix; signed URLs are then refused with a 503 that names them, the assets stay in
circulation, and the org gets one signed ``connection.health_changed`` webhook (and audit
event) per change, not one per check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from insitu.config import get_settings
from insitu.connections import health
from insitu.connections import service as connections
from insitu.db import session_scope
from insitu.errors import InsituError
from insitu.jobs.inline import InlineBackend
from insitu.storage.s3 import PROVIDER as S3
from tests.api.test_s3_end_to_end import run
from tests.conftest import PORTAL_ORIGIN, Org
from tests.images import png
from tests.webhooks.receiver import Receiver, receiver
from tests.webhooks.test_webhooks import register
from tests.webhooks.test_webhooks import verify as verify_signature

FILES = {"h/a.png": png(3, 2), "h/b.png": png(4, 2)}


@pytest.fixture(autouse=True)
def single_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    # One tenant: insitu's own AWS identity is no isolation warning, so healthy reads "ok".
    monkeypatch.setenv("INSITU_SINGLE_TENANT", "true")


@pytest.fixture
def in_use(
    api: TestClient,
    worker: InlineBackend,
    s3: dict[str, str],
    s3_bucket: str,
    s3_client: Any,
    seed_objects: Callable[..., None],
) -> dict[str, Any]:
    """A connection with two assets in circulation, on a bucket whose CORS allows the portal."""
    s3_client.put_bucket_cors(Bucket=s3_bucket, CORSConfiguration=_cors())
    seed_objects(s3_bucket, FILES)
    job = run(api, worker, s3, source=f"s3://{s3_bucket}/h/")
    assert job["counts"]["imported"] == len(FILES), job
    assets = api.get(f"/v1/projects/{s3['project']}/assets").json()["items"]
    return {**s3, "bucket": s3_bucket, "assets": [asset["id"] for asset in assets]}


def _cors() -> dict[str, Any]:
    return S3.cors_advice([PORTAL_ORIGIN]).rules  # type: ignore[no-any-return]


def check_now(connection_id: str) -> str | None:
    """What the scheduled task does for one connection, run here and now."""
    with session_scope() as session:
        return health.check_by_id(session, connection_id=connection_id, settings=get_settings())


def health_of(api: TestClient, connection_id: str) -> dict[str, Any]:
    return api.get(f"/v1/connections/{connection_id}").json()["health"]  # type: ignore[no-any-return]


def _run_cli(*args: str, input: str | None = None) -> Result:
    """The operator's CLI on the server, in this process (same database, same settings)."""
    from insitu.cli import common
    from insitu.cli.main import app

    # The console was sized when first imported, by whatever terminal the test run has.
    width, common.console.width = common.console.width, 400
    try:
        return CliRunner().invoke(app, list(args), input=input)
    finally:
        common.console.width = width


def _cli(*args: str, input: str | None = None) -> str:
    result = _run_cli(*args, input=input)
    assert result.exit_code == 0, result.output
    return result.output


def _cli_refuses(*args: str) -> InsituError:
    """The error the CLI prints (what failed, then the fix) and exits 1 with."""
    result = _run_cli(*args)
    assert result.exit_code == 1 and isinstance(result.exception, InsituError), result.output
    return result.exception


def health_changes(api: TestClient) -> list[dict[str, Any]]:
    page = api.get("/v1/audit", params={"action": "connection.health_changed"}).json()
    return [event["details"] for event in page["items"]]


def test_revoked_cors_turns_failing_refuses_urls_keeps_assets_and_recovers(
    api: TestClient, worker: InlineBackend, in_use: dict[str, Any], s3_client: Any, org: Org
) -> None:
    with receiver(200) as hook:
        webhook = register(api, hook.url, "connection.health_changed")
        _revoke_and_recover(api, worker, in_use, s3_client, org, hook, webhook["secret"])


def _revoke_and_recover(
    api: TestClient,
    worker: InlineBackend,
    in_use: dict[str, Any],
    s3_client: Any,
    org: Org,
    hook: Receiver,
    secret: str,
) -> None:
    connection, asset = in_use["connection"], in_use["assets"][0]
    assert check_now(connection) == "ok"
    healthy = health_of(api, connection)
    assert healthy["status"] == "ok" and healthy["check"] is None
    assert health_changes(api) == []  # a first check that finds access fine is no news

    s3_client.delete_bucket_cors(Bucket=in_use["bucket"])
    assert check_now(connection) == "failing"
    worker.join()  # the webhook is sent once the check's transaction commits
    [received] = hook.requests
    event = verify_signature(secret, received)
    assert received.headers["Insitu-Event"] == event["type"] == "connection.health_changed"
    assert event["data"]["connection_id"] == connection
    assert (event["data"]["previous"], event["data"]["current"]) == ("ok", "failing")
    assert event["data"]["detail"].startswith("bucket CORS: ")
    assert f"put-bucket-cors --bucket {in_use['bucket']}" in event["data"]["fix"]
    failing = health_of(api, connection)
    assert failing["status"] == "failing" and failing["check"] == "bucket CORS"
    assert f"put-bucket-cors --bucket {in_use['bucket']}" in failing["fix"]
    assert PORTAL_ORIGIN in failing["fix"]
    assert failing["since"] > healthy["since"]
    listed = {c["id"]: c for c in api.get("/v1/connections").json()}
    assert listed[connection]["health"] == failing

    url = api.get(f"/v1/assets/{asset}/url")
    assert url.status_code == 503, url.text
    error = url.json()
    assert (error["error"], error["check"], error["connection_id"]) == (
        "storage_unavailable", "bucket CORS", connection,
    )  # fmt: skip
    assert "bucket CORS" in error["detail"] and error["fix"] == failing["fix"]
    page = api.get(f"/v1/projects/{in_use['project']}/circulation")
    assert page.status_code == 503 and page.json()["check"] == "bucket CORS"
    assets = api.get(f"/v1/projects/{in_use['project']}/assets").json()["items"]
    assert sorted(a["id"] for a in assets) == sorted(in_use["assets"])
    assert {a["status"] for a in assets} == {"active"}

    shown = _cli("connections", "list", "--org", org.id)
    assert connection in shown and "failing" in shown and "bucket CORS" in shown
    shown = _cli("connections", "show", connection)
    assert "Health: failing" in shown and f"put-bucket-cors --bucket {in_use['bucket']}" in shown

    assert check_now(connection) == "failing"  # still failing: no new change, same since
    assert health_of(api, connection)["since"] == failing["since"]
    worker.join()
    assert len(hook.requests) == 1  # one webhook per change, not one per check
    [changed] = health_changes(api)
    assert (changed["previous"], changed["current"], changed["check"]) == (
        "ok", "failing", "bucket CORS",
    )  # fmt: skip

    # The admin applies the fix and verifies the imported prefix: URLs work again at once.
    s3_client.put_bucket_cors(Bucket=in_use["bucket"], CORSConfiguration=_cors())
    verified = api.post(
        f"/v1/connections/{connection}/verify", json={"source": f"s3://{in_use['bucket']}/h/"}
    )
    assert verified.json()["ok"] is True, verified.text
    recovered = health_of(api, connection)
    assert recovered["status"] == "ok" and recovered["since"] > failing["since"]
    assert api.get(f"/v1/assets/{asset}/url").status_code == 200
    assert api.get(f"/v1/projects/{in_use['project']}/circulation").status_code == 200
    assert [(c["previous"], c["current"]) for c in health_changes(api)] == [
        ("failing", "ok"), ("ok", "failing"),
    ]  # fmt: skip
    worker.join()
    back = verify_signature(secret, hook.requests[-1])["data"]
    assert len(hook.requests) == 2 and (back["previous"], back["current"]) == ("failing", "ok")


def test_a_verify_of_a_path_without_its_files_leaves_health_alone(
    api: TestClient, in_use: dict[str, Any]
) -> None:
    connection = in_use["connection"]
    assert check_now(connection) == "ok"
    typo = api.post(
        f"/v1/connections/{connection}/verify", json={"source": f"s3://{in_use['bucket']}/hh/"}
    )
    assert typo.json()["ok"] is False
    assert health_of(api, connection)["status"] == "ok"
    assert api.get(f"/v1/connections/{connection}").json()["last_verify"]["status"] == "failed"


def test_a_bucket_gone_is_failing_but_a_deleted_file_is_reconciles_business(
    api: TestClient, in_use: dict[str, Any], s3_client: Any
) -> None:
    connection, bucket = in_use["connection"], in_use["bucket"]
    s3_client.delete_object(Bucket=bucket, Key="h/a.png")
    assert check_now(connection) == "ok"  # b.png still reads; a.png's absence is no outage
    s3_client.delete_object(Bucket=bucket, Key="h/b.png")
    assert check_now(connection) == "ok"  # every file gone, the bucket still answers
    s3_client.delete_bucket_cors(Bucket=bucket)
    s3_client.delete_bucket(Bucket=bucket)
    assert check_now(connection) == "failing"
    gone = health_of(api, connection)
    assert gone["check"] == "list prefix"
    assert f"aws s3api head-bucket --bucket {bucket}" in gone["fix"]
    assert api.get(f"/v1/assets/{in_use['assets'][0]}/url").status_code == 503


def test_a_connection_not_in_use_is_not_checked(
    api: TestClient, worker: InlineBackend, s3: dict[str, str]
) -> None:
    assert check_now(s3["connection"]) is None
    assert health_of(api, s3["connection"]) is None
    with session_scope() as session:
        assert health.queue_due(session, interval=timedelta(0)) == []


def test_the_schedule_checks_connections_in_use_on_the_job_backend(
    in_use: dict[str, Any], org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    from insitu.api.app import create_app

    monkeypatch.setenv("INSITU_HEALTH_INTERVAL_SECONDS", "1")
    get_settings.cache_clear()
    app = create_app(get_settings(), schedule_health_checks=True)
    with TestClient(app, headers=org.headers) as server:
        deadline = time.monotonic() + 20
        while (shown := health_of(server, in_use["connection"])) is None:
            assert time.monotonic() < deadline, "no scheduled health check ran"
            time.sleep(0.2)
        assert shown["status"] == "ok" and shown["checked_at"] >= shown["since"]


def test_the_development_shared_identity_warning_is_no_health_problem(
    in_use: dict[str, Any], api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Several tenants on insitu's own identity: verify warns, as it must, about the deployment.
    monkeypatch.setenv("INSITU_SINGLE_TENANT", "false")
    get_settings.cache_clear()
    connection = in_use["connection"]
    assert check_now(connection) == "ok"
    shown = api.get(f"/v1/connections/{connection}").json()
    assert shown["health"]["status"] == "ok" and shown["health"]["check"] is None
    assert shown["last_verify"]["status"] == "warning"
    assert shown["last_verify"]["check"] == "tenant isolation"


def test_new_settings_are_checked_at_once_and_a_mended_connection_serves_again(
    api: TestClient, in_use: dict[str, Any], s3_client: Any, other_org: Org
) -> None:
    """Rotating keys: the connection keeps its assets, its access is checked again before
    the change is answered, and the audit names what changed without its values."""
    connection, asset = in_use["connection"], in_use["assets"][0]
    s3_client.delete_bucket_cors(Bucket=in_use["bucket"])
    assert check_now(connection) == "failing"
    assert api.get(f"/v1/assets/{asset}/url").status_code == 503
    s3_client.put_bucket_cors(Bucket=in_use["bucket"], CORSConfiguration=_cors())

    rotated = {"access_key_id": "AKIAROTATED", "secret_access_key": "rotated-secret-value"}
    foreign = api.patch(
        f"/v1/connections/{connection}", json={"settings": rotated}, headers=other_org.headers
    )
    assert foreign.status_code == 404
    response = api.patch(f"/v1/connections/{connection}", json={"settings": rotated})

    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["health"]["status"] == "ok"
    assert "rotated-secret-value" not in response.text and "AKIAROTATED" not in response.text
    assert updated["settings"]["region"] == "us-east-1"
    assert api.get(f"/v1/assets/{asset}/url").status_code == 200
    assert [(c["previous"], c["current"]) for c in health_changes(api)][0] == ("failing", "ok")
    [audited] = api.get("/v1/audit", params={"action": "connection.updated"}).json()["items"]
    assert audited["details"]["changed"] == ["access_key_id", "secret_access_key"]
    assert "rotated-secret-value" not in str(audited)
    assets = api.get(f"/v1/projects/{in_use['project']}/assets").json()["items"]
    assert sorted(a["id"] for a in assets) == sorted(in_use["assets"])


def test_the_operator_rotates_keys_from_the_cli_with_the_secret_off_its_command_line(
    api: TestClient, in_use: dict[str, Any], s3_client: Any
) -> None:
    connection = in_use["connection"]
    s3_client.delete_bucket_cors(Bucket=in_use["bucket"])
    assert check_now(connection) == "failing"
    s3_client.put_bucket_cors(Bucket=in_use["bucket"], CORSConfiguration=_cors())

    shown = _cli(
        "connections", "update", connection, "--name", "Scans (rotated)",
        "--set", "access_key_id=-", "--set", "secret_access_key=-",
        input="AKIAROTATED\nrotated-secret-value\n",
    )  # fmt: skip
    assert f"Connection {connection} Scans (rotated) (s3) updated" in shown
    assert "Health: ok" in shown  # checked again at once: the CORS fix is seen
    assert "Secrets stored (encrypted, never shown): access_key_id, secret_access_key" in shown
    assert "rotated-secret-value" not in shown and "AKIAROTATED" not in shown
    with session_scope() as session:
        stored = connections.config(
            connections.get_any(session, connection_id=connection), settings=get_settings()
        )
    assert stored.access_key_id.get_secret_value() == "AKIAROTATED"  # type: ignore[attr-defined]
    assert stored.secret_access_key.get_secret_value() == "rotated-secret-value"  # type: ignore[attr-defined]
    updated = api.get(f"/v1/connections/{connection}").json()
    assert updated["name"] == "Scans (rotated)" and updated["health"]["status"] == "ok"
    [audited] = api.get("/v1/audit", params={"action": "connection.updated"}).json()["items"]
    assert audited["details"]["changed"] == ["access_key_id", "name", "secret_access_key"]
    assert audited["details"]["operator"] is True
    assert "rotated-secret-value" not in str(audited)
    assets = api.get(f"/v1/projects/{in_use['project']}/assets").json()["items"]
    assert sorted(a["id"] for a in assets) == sorted(in_use["assets"])

    # What the provider refuses changes nothing, and says why.
    before = api.get(f"/v1/connections/{connection}").json()
    refused = _cli_refuses("connections", "update", connection, "--set", "mode=customer_role")
    assert "role_arn" in refused.detail
    malformed = _cli_refuses("connections", "update", connection, "--set", "region")
    assert "is not KEY=VALUE" in malformed.detail and "--set region=" in (malformed.fix or "")
    nothing = _cli_refuses("connections", "update", connection)
    assert nothing.detail == "nothing to change"
    long_name = _cli_refuses("connections", "update", connection, "--name", "x" * 500)
    assert long_name.detail.startswith("the connection name is not usable: ")
    typed = _cli_refuses("connections", "update", connection, "--set", "secret_access_key=abc")
    assert "is a secret" in typed.detail and "--set secret_access_key=-" in (typed.fix or "")
    empty = _cli_refuses("connections", "update", connection, "--set", "secret_access_key=-")
    assert empty.detail == "no value for secret_access_key on standard input"
    assert api.get(f"/v1/connections/{connection}").json()["settings"] == before["settings"]
    # A setting put back to its default.
    _cli("connections", "update", connection, "--set", "region=eu-west-1")
    assert api.get(f"/v1/connections/{connection}").json()["settings"]["region"] == "eu-west-1"
    _cli("connections", "update", connection, "--reset", "region")
    assert api.get(f"/v1/connections/{connection}").json()["settings"]["region"] == "us-east-1"


def test_settings_left_out_are_kept_but_keys_never_follow_the_connection_elsewhere(
    api: TestClient,
) -> None:
    keys = {"access_key_id": "AKIAKEPT", "secret_access_key": "kept-secret"}
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/insitu-events"
    created = api.post(
        "/v1/connections",
        json={"provider": "s3", "settings": {**keys, "events": {"sqs_queue_url": queue}}},
    ).json()
    path = f"/v1/connections/{created['id']}"

    def changed() -> list[str]:
        items = api.get("/v1/audit", params={"action": "connection.updated"}).json()["items"]
        return items[0]["details"]["changed"]  # type: ignore[no-any-return]

    moved = api.patch(path, json={"settings": {"region": "eu-west-1"}}).json()
    assert moved["settings"]["events"] == {"sqs_queue_url": queue}
    assert changed() == ["region"]  # the keys and the queue were kept
    # Aimed at another server, the stored keys are not sent there: they must be given again.
    assert moved["secrets_stored"] == ["access_key_id", "secret_access_key"]
    elsewhere = api.patch(path, json={"settings": {"endpoint_url": "http://127.0.0.1:9"}})
    assert elsewhere.status_code == 200, elsewhere.text
    assert elsewhere.json()["secrets_stored"] == []  # the keys did not follow it
    assert changed() == ["access_key_id", "endpoint_url", "secret_access_key"]
    rekeyed = api.patch(path, json={"settings": {"endpoint_url": None, **keys}})
    assert rekeyed.status_code == 200, rekeyed.text
    assert changed() == ["access_key_id", "endpoint_url", "secret_access_key"]
    role = "arn:aws:iam::123456789012:role/insitu-reader"
    switched = api.patch(path, json={"settings": {"mode": "customer_role", "role_arn": role}})
    assert switched.status_code == 200, switched.text
    assert changed() == ["access_key_id", "mode", "role_arn", "secret_access_key"]
    back = api.patch(path, json={"settings": {"mode": "platform_role", "role_arn": None}})
    assert back.status_code == 200, back.text
    assert back.json()["settings"]["role_arn"] is None
    assert changed() == ["mode", "role_arn"]  # the keys dropped with the role stay dropped


def test_settings_a_provider_refuses_change_nothing(api: TestClient, s3: dict[str, str]) -> None:
    connection = s3["connection"]
    before = api.get(f"/v1/connections/{connection}").json()
    refused = api.patch(
        f"/v1/connections/{connection}", json={"settings": {"mode": "customer_role"}}
    )
    assert refused.status_code == 422, refused.text
    assert "role_arn" in refused.json()["detail"]
    empty = api.patch(f"/v1/connections/{connection}", json={})
    assert empty.status_code == 422 and "'name', new 'settings'" in empty.text
    assert api.get(f"/v1/connections/{connection}").json() == before
    renamed = api.patch(f"/v1/connections/{connection}", json={"name": "Scans (EU)"})
    assert renamed.json()["name"] == "Scans (EU)"
    assert renamed.json()["settings"] == before["settings"]
