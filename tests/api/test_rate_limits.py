"""Rate limits as a key guesser, a flooding client and a busy labeling tool meet them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insitu.api.app import create_app
from insitu.api.ratelimit import RateLimiter
from insitu.config import Settings
from insitu.jobs.inline import InlineBackend
from tests.conftest import OPERATOR, Org
from tests.images import png


class Clock:
    """A clock the test moves by hand, so windows pass without waiting for them."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limited(settings: Settings, worker: InlineBackend, clock: Clock) -> Iterator[Any]:
    """``limited(**limits)``: API clients (any client address) of an app with those limits."""
    clients: list[TestClient] = []

    def make(address: str = "203.0.113.7", **limits: Any) -> TestClient:
        configured = settings.model_copy(update=limits)
        app = create_app(configured)
        app.state.rate_limiter = RateLimiter(configured, clock=clock)
        for other in clients:  # every client of a test talks to the same server process
            if other.app.state.settings == configured:  # type: ignore[attr-defined]
                app = other.app  # type: ignore[assignment]
        client = TestClient(app, client=(address, 50000))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_rate_limited(response: Any, *, about: str) -> int:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == "rate_limited" and about in body["detail"] and body["fix"]
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1 and body["retry_after"] == retry_after
    return retry_after


def test_a_key_guesser_is_stopped_and_then_even_the_right_key_waits(
    limited: Any, org: Org, clock: Clock
) -> None:
    api = limited(auth_failures_per_minute=3)
    for attempt in range(3):
        guess = api.get("/v1/projects", headers=bearer(f"insitu_guess{attempt}"))
        assert guess.status_code == 401
    blocked = api.get("/v1/projects", headers=bearer(org.key))
    retry_after = assert_rate_limited(blocked, about="failed authentications")
    assert retry_after == 60

    # Another address is not affected; this one is again once the minute is over.
    neighbour = limited(address="198.51.100.9", auth_failures_per_minute=3)
    assert neighbour.get("/v1/projects", headers=bearer(org.key)).status_code == 200
    clock.now += 59
    assert api.get("/v1/projects", headers=bearer(org.key)).status_code == 429
    clock.now += 1
    assert api.get("/v1/projects", headers=bearer(org.key)).status_code == 200


def test_guessing_on_the_signed_url_route_counts_too(limited: Any, org: Org) -> None:
    api = limited(auth_failures_per_minute=2)
    for attempt in range(2):
        assert api.get("/v1/assets/x/url", headers=bearer(f"bad{attempt}")).status_code == 401
    assert_rate_limited(
        api.get("/v1/assets/x/url", headers=bearer(org.key)), about="failed authentications"
    )


def test_requests_without_a_key_are_not_counted_as_guesses(limited: Any, org: Org) -> None:
    api = limited(auth_failures_per_minute=2)
    for _ in range(5):
        assert api.get("/v1/projects").status_code == 401
    assert api.get("/v1/projects", headers=bearer(org.key)).status_code == 200


def test_a_wrong_operator_key_counts_as_a_failed_authentication(
    limited: Any, org: Org, data_root: Path
) -> None:
    api = limited(auth_failures_per_minute=2)
    body = {"provider": "local", "settings": {"root": str(data_root)}}
    for attempt in range(2):
        wrong = {**bearer(org.key), "X-Insitu-Operator-Key": f"guess-{attempt}"}
        assert api.post("/v1/connections", json=body, headers=wrong).status_code == 403
    right = {**bearer(org.key), **OPERATOR}
    assert_rate_limited(
        api.post("/v1/connections", json=body, headers=right), about="failed authentications"
    )


def test_the_operator_key_is_rate_limited(limited: Any, org: Org, data_root: Path) -> None:
    api = limited(rate_limit_per_key=1.0)  # one a second, bursts of two
    headers = {**bearer(org.key), **OPERATOR}
    body = {"provider": "local", "settings": {"root": str(data_root)}}
    statuses = [
        api.post("/v1/connections", json=body, headers=headers).status_code for _ in range(3)
    ]
    # The org key and the operator key each have a bucket; the operator's runs out first.
    assert statuses[:1] == [201] and 429 in statuses


def test_one_key_over_its_limit_waits_while_another_key_goes_on(
    limited: Any, org: Org, other_org: Org, clock: Clock
) -> None:
    api = limited(rate_limit_per_key=5.0)  # bursts of 10
    for _ in range(10):
        assert api.get("/v1/projects", headers=bearer(org.key)).status_code == 200
    retry_after = assert_rate_limited(
        api.get("/v1/projects", headers=bearer(org.key)), about="with this key"
    )
    assert retry_after == 1
    assert api.get("/v1/projects", headers=bearer(other_org.key)).status_code == 200
    clock.now += 0.2  # one token back
    assert api.get("/v1/projects", headers=bearer(org.key)).status_code == 200
    assert api.get("/v1/projects", headers=bearer(org.key)).status_code == 429


def test_one_address_over_its_limit_waits_while_another_goes_on(
    limited: Any, org: Org, other_org: Org
) -> None:
    api = limited(rate_limit_per_address=2.0)  # bursts of 4
    keys = [org.key, other_org.key]
    assert all(
        api.get("/v1/projects", headers=bearer(keys[n % 2])).status_code == 200 for n in range(4)
    )
    assert_rate_limited(api.get("/v1/projects", headers=bearer(org.key)), about="from 203.0.113.7")
    other = limited(address="198.51.100.9", rate_limit_per_address=2.0)
    assert other.get("/v1/projects", headers=bearer(org.key)).status_code == 200


def test_a_limit_of_zero_turns_it_off(limited: Any, org: Org) -> None:
    api = limited(rate_limit_per_key=0, rate_limit_per_address=0, auth_failures_per_minute=0)
    for attempt in range(30):
        assert api.get("/v1/projects", headers=bearer(f"bad{attempt}")).status_code == 401
    assert api.get("/v1/projects", headers=bearer(org.key)).status_code == 200


def test_the_default_limits_let_a_labeling_tool_fetch_1200_urls_a_second_with_one_key() -> None:
    clock = Clock()
    limiter = RateLimiter(Settings(), clock=clock)
    for request in range(1200 * 10):  # ten seconds at 1,200 a second from one address
        clock.now = 1000.0 + request / 1200
        limiter.admit("10.1.2.3", "insitu_the-tools-one-key")


def test_the_signed_url_route_with_the_default_limits_serves_a_burst(
    limited: Any, org: Org, worker: InlineBackend, data_root: Path
) -> None:
    api = limited()
    (data_root / "a.png").write_bytes(png())
    api.headers.update(bearer(org.key))
    connection = api.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(data_root)}},
        headers=OPERATOR,
    ).json()
    project = api.post("/v1/projects", json={"name": "p"}).json()
    body = {"source": f"file://{data_root}/", "connection_id": connection["id"]}
    api.post(f"/v1/projects/{project['id']}/imports", json=body)
    worker.join()
    [asset] = api.get(f"/v1/projects/{project['id']}/assets").json()["items"]
    # The clock stands still: all of these fall within one instant of the burst.
    statuses = {api.get(f"/v1/assets/{asset['id']}/url").status_code for _ in range(300)}
    assert statuses == {200}


def test_checking_the_limits_costs_microseconds() -> None:
    clock = Clock()
    limiter = RateLimiter(Settings(), clock=clock)
    rounds = 50_000
    started = time.perf_counter()
    for _ in range(rounds):
        clock.now += 0.001  # a thousand requests a second: each one is really counted
        limiter.admit("10.1.2.3", "insitu_the-tools-one-key")
    per_request = (time.perf_counter() - started) / rounds
    assert per_request < 20e-6, f"{per_request * 1e6:.1f} µs per request"


def test_made_up_keys_cannot_grow_memory_without_bound() -> None:
    from insitu.api import ratelimit

    clock = Clock()
    limiter = RateLimiter(Settings(rate_limit_per_address=0), clock=clock)
    assert limiter.per_key is not None
    for n in range(ratelimit.MAX_TRACKED + 10):
        limiter.admit("10.1.2.3", f"insitu_made_up_{n}")
    assert len(limiter.per_key._buckets) <= ratelimit.MAX_TRACKED
