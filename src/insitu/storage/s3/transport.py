"""boto3 clients on a customer's endpoint: every connection checked, no redirect followed.

A connection's ``endpoint_url`` is checked when it is saved and opened (``network.check_endpoint``),
but its name may resolve elsewhere by the time a request is sent (DNS rebinding), and the store
may answer with a redirect. So for clients on a customer-supplied endpoint:

- ``guard_connections`` swaps the client's urllib3 connection classes for ones that check the
  peer address of every new socket (``network.check_peer``) before anything is sent;
- ``refuse_redirects`` keeps botocore's S3 region redirector from acting on a 3xx (it re-sends
  the request, and on a 307 loop recursed through HEAD bucket until RecursionError); urllib3
  itself never follows redirects for botocore (``Retry(False)``), so a 3xx becomes one error.

obstore (reqwest) follows redirects to any host and has no option to stop it, so insitu never
lets obstore send a request to a customer's endpoint (see ``Identity.uses_obstore``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import botocore.awsrequest

from insitu.storage.network import check_peer


def guard_connections(client: Any, allowed: Sequence[str]) -> None:
    """Make ``client`` check the address of each new connection against ``allowed``."""
    entries = tuple(allowed)

    class GuardedHTTPConnection(botocore.awsrequest.AWSHTTPConnection):
        def _new_conn(self) -> Any:
            sock = super()._new_conn()
            _check(self, sock, entries)
            return sock

    class GuardedHTTPSConnection(botocore.awsrequest.AWSHTTPSConnection):
        def _new_conn(self) -> Any:
            sock = super()._new_conn()
            _check(self, sock, entries)
            return sock

    class GuardedHTTPConnectionPool(botocore.awsrequest.AWSHTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSConnectionPool(botocore.awsrequest.AWSHTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    # botocore has no public hook for its connection classes; this dict is the one its pool
    # managers (direct and proxied) read when they create a pool, which happens on first use.
    pools = client._endpoint.http_session._pool_classes_by_scheme
    pools["http"] = GuardedHTTPConnectionPool
    pools["https"] = GuardedHTTPSConnectionPool


def _check(connection: Any, sock: Any, allowed: tuple[str, ...]) -> None:
    if getattr(connection, "proxy", None) is not None:
        return  # the operator's proxy resolves and connects; its own address is not the store's
    check_peer(sock, connection.host, connection.port, allowed)


def refuse_redirects(client: Any) -> None:
    """Stop botocore's S3 region redirector from re-sending requests on ``client``."""
    client.meta.events.register("before-call.s3", _mark_redirected)


def _mark_redirected(context: dict[str, Any], **_: Any) -> None:
    # The redirector (botocore.utils.S3RegionRedirectorv2) skips requests it believes it has
    # redirected already; a customer endpoint has no regions to redirect between.
    redirect = context.get("s3_redirect")
    if isinstance(redirect, dict):
        redirect["redirected"] = True
