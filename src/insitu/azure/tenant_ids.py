"""Tenant IDs as insitu stores them: lowercase GUIDs."""

from __future__ import annotations

import re

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def normalize_tenant_id(value: str) -> str:
    """``value`` as a lowercase tenant GUID; ValueError with an example otherwise."""
    tenant = value.strip().lower() if isinstance(value, str) else ""
    if not _GUID.match(tenant):
        raise ValueError(
            f"{value!r} is not a tenant ID; use the directory (tenant) ID GUID, e.g. "
            "72f988bf-86f1-41af-91ab-2d7cd011db47 (az account show --query tenantId)"
        )
    return tenant
