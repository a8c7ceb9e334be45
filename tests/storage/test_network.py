"""Customer-supplied endpoints never reach the platform's own network unless allowed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from insitu.errors import InvalidConfiguration
from insitu.storage.network import check_endpoint


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000",
        "http://169.254.169.254/",
        "https://10.0.0.5",
        "http://[::1]:8080",
        "http://localhost:9000",
        "http://100.64.0.1",
    ],
)
def test_non_public_endpoints_are_refused_with_the_operator_fix(url: str) -> None:
    with pytest.raises(InvalidConfiguration) as refused:
        check_endpoint(url, allowed=[])
    assert "non-public address" in refused.value.detail
    suggests_allowing = "INSITU_PRIVATE_ENDPOINTS=" in (refused.value.fix or "")
    assert suggests_allowing is ("169.254" not in url)


def test_the_operator_can_allow_a_host_a_port_or_a_network() -> None:
    check_endpoint("http://127.0.0.1:9000", allowed=["127.0.0.1:9000"])
    check_endpoint("http://10.1.2.3:9000", allowed=["10.0.0.0/8"])
    with pytest.raises(InvalidConfiguration):
        check_endpoint("http://127.0.0.1:9001", allowed=["127.0.0.1:9000"])


def test_public_and_unresolvable_hosts_pass_the_check() -> None:
    check_endpoint("https://8.8.8.8", allowed=[])
    # Nothing answers there: the first request fails as storage_unreachable instead.
    check_endpoint("https://no-such-host.invalid", allowed=[])


def test_an_s3_connection_to_the_metadata_service_is_refused(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = api.app.state.settings  # type: ignore[attr-defined]
    monkeypatch.setattr(settings, "private_endpoints", [])
    body = {"provider": "s3", "settings": {"endpoint_url": "http://169.254.169.254"}}
    response = api.post("/v1/connections", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_configuration"
    assert "169.254.169.254" in response.json()["detail"]
