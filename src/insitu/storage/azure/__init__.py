"""Azure Blob Storage, read through insitu's multi-tenant Entra ID application.

Identity: each customer tenant admin-consents once to insitu's application (``insitu.azure``
records which tenants an org connected); insitu then gets tokens for that tenant with its own
client secret (``INSITU_AZURE_CLIENT_ID`` / ``INSITU_AZURE_CLIENT_SECRET``), or from
``INSITU_AZURE_CREDENTIAL_FACTORY`` when the operator (or a test) supplies another credential.
Per storage account the customer assigns the application **Storage Blob Data Reader** (list,
read) and **Storage Blob Delegator** (user-delegation keys) at the *account* level.

Signed URLs are user-delegation SAS: read-only, one blob, short-lived. A delegation key is
fetched once per account and tenant and reused for every URL until shortly before it
expires (a SAS is refused once its key has expired, so a URL never outlives its key).

Isolation: a tenant is connected to one org at a time (``insitu.azure``); a connection's
``account_url`` must be ``https://ACCOUNT.blob.<suffix>`` of the cloud insitu signs in to, or
a private endpoint the operator allowed; the SDK follows no redirect.

URIs: ``az://ACCOUNT/CONTAINER/PREFIX`` (key kept raw),
``https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX`` (any cloud's ``blob.`` endpoint,
percent-decoded as a URL is), and path-style emulator URLs
``https://127.0.0.1:PORT/ACCOUNT/CONTAINER/PREFIX``. The SDK is imported only here.

Modules, one job each:

- ``config``: ``AzureConfig`` (account endpoint, tenant) and ``parse_uri``
- ``endpoints``: which account endpoints insitu calls (the cloud's blob hosts, allowed ones)
- ``identity``: the tenant credential, the cached client and user-delegation key
- ``errors``: the table from Azure Storage and Entra ID errors to insitu's, with their fixes
- ``store``: ``AzureStore``, read-only list, properties, ranged GET and user-delegation SAS
- ``checks``: the Azure-specific verify checks (token, delegation key, Blob service CORS)
- ``provider``: ``AzureProvider`` (parse, open, verify) and ``PROVIDER``
- ``advice``: role assignments, consent and CORS as the customer applies them (no SDK)

Names are exported lazily, so importing ``advice`` does not import the Azure SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from insitu.storage import lazy

if TYPE_CHECKING:
    from insitu.storage.azure.advice import TENANTS, cors_command, cors_rules, role_command
    from insitu.storage.azure.checks import DELEGATION_KEY, STORAGE_SCOPE, TOKEN
    from insitu.storage.azure.config import AzureConfig, parse_uri
    from insitu.storage.azure.identity import make_credential
    from insitu.storage.azure.provider import PROVIDER, AzureProvider
    from insitu.storage.azure.store import AzureStore

__all__ = [
    "DELEGATION_KEY",
    "PROVIDER",
    "STORAGE_SCOPE",
    "TENANTS",
    "TOKEN",
    "AzureConfig",
    "AzureProvider",
    "AzureStore",
    "cors_command",
    "cors_rules",
    "make_credential",
    "parse_uri",
    "role_command",
]

__getattr__ = lazy.exports(
    __name__,
    {
        "PROVIDER": "provider",
        "AzureProvider": "provider",
        "AzureConfig": "config",
        "parse_uri": "config",
        "AzureStore": "store",
        "make_credential": "identity",
        "DELEGATION_KEY": "checks",
        "STORAGE_SCOPE": "checks",
        "TOKEN": "checks",
        "TENANTS": "advice",
        "cors_command": "advice",
        "cors_rules": "advice",
        "role_command": "advice",
    },
)
