"""AWS S3 and S3-compatible stores (MinIO, Ceph, R2, ...): the ``s3`` provider.

Identity: the platform's own AWS identity comes from boto3's standard chain (``AWS_ENDPOINT_URL*``
point it at an emulator). With ``INSITU_AWS_PLATFORM_ROLE_TEMPLATE`` set, insitu first assumes
the org's platform role; ``customer_role`` connections then assume the customer's role from it,
always with the org's external ID. Assumed credentials refresh themselves before they expire.
A connection may instead carry its own ``access_key_id``/``secret_access_key`` (S3-compatible
stores), used alone. In production, a connection reaching storage as the platform's own
identity (shared by every org) is refused unless ``INSITU_SINGLE_TENANT=true``.

Clients, chosen by ``bench/s3_clients.py`` (CPU per object, 10k objects against moto):
obstore does ranged GETs (0.43 vs 1.22 CPU-ms for boto3) and presigning (0.01 vs 0.18 CPU-ms);
boto3 does listing (0.08 CPU-ms, and it takes any key: obstore aborts a whole listing on a key
like ``a//b`` or ``./x``), HEAD (it reports SSE-KMS), keys obstore cannot address, and the
control plane (STS, CORS). obstore follows redirects to any host, so on a customer's
``endpoint_url`` every request goes through boto3. Clients and credentials are cached per
identity, so ``open`` is cheap.

Modules, one job each:

- ``config``: ``S3Config``, a connection's settings and their validation
- ``identity``: credentials, the STS role chain and the cached boto3/obstore clients
- ``transport``: boto3 clients on a customer endpoint check each connection, follow no redirect
- ``errors``: the table from S3/STS/KMS errors to insitu's errors, with their fixes
- ``store``: ``S3ObjectStore``, read-only list, HEAD, ranged GET and presigning
- ``checks``: the S3-specific verify checks (identity, kms:Decrypt, CORS)
- ``provider``: ``S3Provider`` (parse, open, verify) and ``PROVIDER``
- ``policies``: the IAM, bucket policy and CORS documents customers apply (no SDK)

Names are exported lazily, so importing ``policies`` does not import boto3 or obstore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from insitu.storage import lazy

if TYPE_CHECKING:
    from insitu.storage.s3.config import S3Config
    from insitu.storage.s3.policies import (
        bucket_policy,
        kms_statement,
        platform_role_arn,
        trust_policy,
    )
    from insitu.storage.s3.provider import PROVIDER, S3Provider
    from insitu.storage.s3.store import S3ObjectStore

__all__ = [
    "PROVIDER",
    "S3Config",
    "S3ObjectStore",
    "S3Provider",
    "bucket_policy",
    "kms_statement",
    "platform_role_arn",
    "trust_policy",
]

__getattr__ = lazy.exports(
    __name__,
    {
        "PROVIDER": "provider",
        "S3Provider": "provider",
        "S3Config": "config",
        "S3ObjectStore": "store",
        "bucket_policy": "policies",
        "kms_statement": "policies",
        "platform_role_arn": "policies",
        "trust_policy": "policies",
    },
)
