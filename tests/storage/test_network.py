"""Customer-supplied endpoints never reach the platform's own network unless allowed."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from fastapi.testclient import TestClient

from insitu.errors import InvalidConfiguration
from insitu.storage.network import check_address, check_endpoint


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


def test_public_hosts_pass_the_check() -> None:
    check_endpoint("https://8.8.8.8", allowed=[])
    check_endpoint("https://[2001:4860:4860::8888]", allowed=[])
    # NAT64 and 6to4 forms of a public IPv4 address are as public as it is.
    check_endpoint("http://[64:ff9b::808:808]", allowed=[])
    check_endpoint("http://[2002:808:808::]", allowed=[])


def test_a_host_that_does_not_resolve_is_refused_not_waved_through() -> None:
    # Unchecked, it could resolve to anything by the time a request is sent.
    with pytest.raises(InvalidConfiguration) as refused:
        check_endpoint("https://no-such-host.invalid", allowed=[])
    assert "does not resolve" in refused.value.detail
    assert "endpoint_url" in (refused.value.fix or "")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1.:9000", "ends with a dot"),
        ("http://localhost.:9000", "ends with a dot"),
        ("http://[fe80::1%25eth0]:9000", "zone id"),
        ("http://127.0.0.%31:9000", "percent-encoded"),
        ("http://[::127.0.0.1]:9000", "IPv6 form of an IPv4"),
        ("http://[::ffff:127.0.0.1]:9000", "IPv6 form of an IPv4"),
        ("http://[::ffff:8.8.8.8]:9000", "IPv6 form of an IPv4"),
        ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]:9000", "IPv6 form of an IPv4"),  # Teredo
        ("http://2130706433:9000", "decimal, octal or hexadecimal"),
        ("http://0177.0.0.1:9000", "decimal, octal or hexadecimal"),
        ("http://0x7f.0.0.1:9000", "decimal, octal or hexadecimal"),
        ("http://0x7f000001:9000", "decimal, octal or hexadecimal"),
        ("http://127.1:9000", "decimal, octal or hexadecimal"),
        ("http://[64:ff9b::7f00:1]:9000", "carries 127.0.0.1"),  # NAT64
        ("http://[64:ff9b::a9fe:a9fe]:80", "carries 169.254.169.254"),
        ("http://[2002:7f00:1::]:9000", "carries 127.0.0.1"),  # 6to4
        ("http://[2002:a00:5::]:9000", "carries 10.0.0.5"),
        ("http://[64:ff9b:1::808:808]:9000", "non-public"),  # a site's own NAT64
        ("http://0.0.0.0:9000", "non-public"),
        ("http://[::]:9000", "non-public"),
    ],
)
def test_disguised_loopback_and_private_hosts_are_refused(url: str, why: str) -> None:
    # Even with loopback allowed by name: these spellings are never what an operator meant.
    with pytest.raises(InvalidConfiguration) as refused:
        check_endpoint(url, allowed=["127.0.0.1:9000", "localhost:9000"])
    assert why in refused.value.detail
    assert refused.value.fix


def test_a_name_resolving_to_any_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = {"store.example.test": ["93.184.215.14", "64:ff9b::a00:5"]}
    _resolve_with(monkeypatch, answers)
    with pytest.raises(InvalidConfiguration) as refused:
        check_endpoint("https://store.example.test", allowed=[])
    assert "64:ff9b::a00:5 (it carries 10.0.0.5)" in refused.value.detail
    check_endpoint("https://store.example.test", allowed=["64:ff9b::/96"])
    check_endpoint("https://store.example.test", allowed=["store.example.test"])


@pytest.mark.parametrize(
    "metadata",
    [
        "169.254.169.254",
        "fe80::1",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "2002:a9fe:a9fe::",
    ],
)
def test_an_allowed_name_resolving_to_a_link_local_address_is_still_refused(
    monkeypatch: pytest.MonkeyPatch, metadata: str
) -> None:
    """The operator allowed a store by name; DNS pointing that name at a metadata service
    (then or later, at connect time) does not inherit the allowance."""
    _resolve_with(monkeypatch, {"minio.internal": ["10.0.0.5", metadata]})
    every_way = ["minio.internal", "minio.internal:9000", "169.254.0.0/16", "fe80::/10"]
    with pytest.raises(InvalidConfiguration) as refused:
        check_endpoint("http://minio.internal:9000", allowed=every_way)
    assert "link-local" in refused.value.detail
    assert str(ipaddress.ip_address(metadata)) in refused.value.detail
    assert "INSITU_PRIVATE_ENDPOINTS" not in (refused.value.fix or "")
    # The address a socket actually connected to is judged the same way.
    with pytest.raises(InvalidConfiguration, match="link-local"):
        check_address("minio.internal", 9000, metadata, every_way)
    check_address("minio.internal", 9000, "10.0.0.5", every_way)


def test_an_allowed_name_leading_only_to_private_addresses_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _resolve_with(monkeypatch, {"minio.internal": ["10.0.0.5", "fd00::5"]})
    check_endpoint("http://minio.internal:9000", allowed=["minio.internal:9000"])
    with pytest.raises(InvalidConfiguration, match="non-public"):
        check_endpoint("http://minio.internal:9000", allowed=[])
    # Not resolvable from here (yet): allowed by name, and checked again on every connection.
    check_endpoint("http://not-yet.invalid:9000", allowed=["not-yet.invalid"])


def _resolve_with(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: object, *args: object, **kwargs: object) -> list:  # type: ignore[type-arg]
        if host not in answers:
            return real(host, port, *args, **kwargs)  # type: ignore[arg-type]
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (address, port),
            )
            for address in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


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
