"""An Azure connection's settings, and Azure URIs parsed into Locations."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator

from insitu.errors import InvalidLocation
from insitu.storage.base import Location, ProviderConfig

_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_CONTAINER = re.compile(r"^(?:\$root|\$web|\$logs|[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62})$")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HOST = re.compile(r"^(?P<account>[a-z0-9]{3,24})\.blob\.(?P<suffix>[a-z0-9.-]+)$")
_EXAMPLE = (
    "write it as az://ACCOUNT/CONTAINER/PREFIX, e.g. az://mystorage/images/scans/, "
    "or https://mystorage.blob.core.windows.net/images/scans/"
)


def _is_loopback_or_ip(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def account_of_url(account_url: str) -> str:
    """The storage account an account endpoint URL names (host or, for emulators, path)."""
    parts = urlsplit(account_url)
    host = (parts.hostname or "").lower()
    match = _HOST.match(host)
    if match:
        return match["account"]
    return parts.path.strip("/")


class AzureConfig(ProviderConfig):
    """An Azure connection: the storage account's blob endpoint and the tenant it lives in.

    Which endpoints are allowed depends on the server (its cloud, its private endpoints):
    ``endpoints.check_account_url`` decides that when a connection is made or opened.
    """

    account_url: str = Field(
        title="Storage account URL", description="e.g. https://mystorage.blob.core.windows.net"
    )
    tenant_id: str = Field(
        title="Tenant ID",
        description="the directory (tenant) ID your admin connected, "
        "e.g. 72f988bf-86f1-41af-91ab-2d7cd011db47",
    )

    @field_validator("account_url")
    @classmethod
    def _account_endpoint(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        host = (parts.hostname or "").lower()
        example = "e.g. https://mystorage.blob.core.windows.net"
        problem = None
        if parts.scheme == "http":
            problem = (
                "insitu authenticates with Entra ID tokens, which are only sent over HTTPS "
                "(run an emulator with --oauth basic --cert --key)"
            )
        elif parts.scheme != "https" or not host:
            problem = "it must be https://ACCOUNT.blob.core.windows.net"
        elif parts.username or parts.password or parts.query or parts.fragment:
            problem = "it must not carry credentials, a query (a SAS) or a fragment"
        elif _HOST.match(host):
            if parts.path.strip("/"):
                problem = "it is the account endpoint only: leave the container out"
        elif not _ACCOUNT.match(parts.path.strip("/")):
            # Only an endpoint the operator allowed (an emulator, Azure Stack) has another host;
            # the provider checks which hosts are allowed, this only checks the URL's shape.
            problem = (
                "the host must be ACCOUNT.blob.<cloud suffix>; an allowed private endpoint "
                "ends with the account, e.g. https://10.0.0.5:10000/devstoreaccount1"
            )
        if problem:
            raise ValueError(f"account_url {value!r} is invalid: {problem}, {example}")
        path = parts.path.rstrip("/")
        return f"{parts.scheme}://{parts.netloc.lower()}{path}"

    @field_validator("tenant_id")
    @classmethod
    def _tenant_is_a_guid(cls, value: str) -> str:
        tenant = value.strip().lower()
        if not _GUID.match(tenant):
            raise ValueError(
                f"tenant_id {value!r} is not a tenant ID; use the directory (tenant) ID GUID, "
                "e.g. 72f988bf-86f1-41af-91ab-2d7cd011db47 (az account show --query tenantId)"
            )
        return tenant

    @property
    def account(self) -> str:
        return account_of_url(self.account_url)


def parse_uri(uri: str) -> Location:
    """``az://`` or an ``https://`` blob URL (host- or emulator path-style) as a Location."""
    if not isinstance(uri, str) or "://" not in uri:
        raise InvalidLocation(f"{uri!r} is not an Azure Blob Storage URI", fix=_EXAMPLE)
    scheme = uri.split("://", 1)[0].lower()
    if scheme == "az":
        account, _, rest = uri[5:].partition("/")
        container, _, key = rest.partition("/")
    elif scheme == "https":
        parts = urlsplit(uri)
        if parts.query or parts.fragment:
            raise InvalidLocation(
                f"{uri!r} has a query or fragment (a SAS token?)",
                fix="give the blob path without '?...': insitu signs its own URLs; " + _EXAMPLE,
            )
        host = (parts.hostname or "").lower()
        path = unquote(parts.path.removeprefix("/"))
        match = _HOST.match(host)
        if match:
            account = match["account"]
        elif _is_loopback_or_ip(host):
            account, _, path = path.partition("/")
        else:
            raise InvalidLocation(
                f"{uri!r} is not a blob endpoint URL (the host must be ACCOUNT.blob.<cloud>)",
                fix=_EXAMPLE,
            )
        container, _, key = path.partition("/")
    else:
        raise InvalidLocation(f"{uri!r} is not an Azure Blob Storage URI", fix=_EXAMPLE)
    if not _ACCOUNT.match(account):
        raise InvalidLocation(
            f"{account!r} in {uri!r} is not a storage account name "
            "(3-24 lowercase letters and digits)",
            fix=_EXAMPLE,
        )
    if not _CONTAINER.match(container):
        raise InvalidLocation(
            f"{container!r} in {uri!r} is not a container name (3-63 lowercase letters, "
            "digits and single hyphens, starting with a letter or digit)",
            fix=_EXAMPLE,
        )
    return Location("azure", "az", container, key, account)
