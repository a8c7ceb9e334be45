"""Google Cloud Storage (the ``gcs`` provider): read a bucket as the platform's service account.

Identity: customers grant one service account ``roles/storage.objectViewer`` on their bucket.
It is ``INSITU_GCS_SERVICE_ACCOUNT_TEMPLATE`` formatted for the org (one account per org), else
``INSITU_GCS_SERVICE_ACCOUNT_EMAIL``, else the account of ``INSITU_GCS_CREDENTIALS_FILE``. insitu
authenticates with that key file, or Application Default Credentials; when the account to act as
is another one (per-org template) it impersonates it, which needs
``roles/iam.serviceAccountTokenCreator`` on it for the platform identity.

Isolation: with one account for all orgs (no template), any org could read a bucket granted
to it, so production refuses that unless ``INSITU_SINGLE_TENANT=true``; development allows it
with a warning in verify. No client follows redirects.

Signed URLs are V4 (GOOG4-RSA-SHA256), GET only, for one object: signed locally with the key
file when it belongs to the account (thousands a second), else through IAM ``signBlob`` (one
call per URL). ``STORAGE_EMULATOR_HOST`` points everything at an emulator (no auth there, as the
SDK does); ``INSITU_GCS_ENDPOINT`` at another JSON API endpoint with auth kept.

Modules, one job each:

- ``config``: ``GcsConfig``, a connection's settings and their validation
- ``identity``: which service account insitu acts as, its credentials, signer and SDK client
- ``errors``: the table from JSON API and auth errors to insitu's errors, with their fixes
- ``store``: ``GcsObjectStore``, read-only list, metadata, ranged GET and V4 signed URLs
- ``checks``: the GCS-specific verify checks (IAM permissions, CORS)
- ``provider``: ``GcsProvider`` (parse, open, verify) and ``PROVIDER``
- ``policies``: the grants and CORS documents customers apply (no SDK)

Names are exported lazily, so importing ``policies`` does not need the optional GCS SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from insitu.storage import lazy

if TYPE_CHECKING:
    from insitu.storage.gcs.config import GcsConfig
    from insitu.storage.gcs.errors import missing_permission
    from insitu.storage.gcs.provider import PROVIDER, GcsProvider
    from insitu.storage.gcs.store import GcsObjectStore

__all__ = ["PROVIDER", "GcsConfig", "GcsObjectStore", "GcsProvider", "missing_permission"]

__getattr__ = lazy.exports(
    __name__,
    {
        "PROVIDER": "provider",
        "GcsProvider": "provider",
        "GcsConfig": "config",
        "GcsObjectStore": "store",
        "missing_permission": "errors",
    },
)
