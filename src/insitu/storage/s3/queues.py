"""SQS queue URLs: which region, account and queue one names, and where to send requests.

Pure parsing, no SDK: the config validates with it, the event source connects with it, and the
policies name the queue's ARN from it. An AWS queue URL is
``https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`` (``.amazonaws.com.cn`` in China; the legacy
``REGION.queue.amazonaws.com`` form is accepted too); any other host is a private endpoint
(an emulator, a VPC endpoint name), held to the customer-endpoint rules like ``endpoint_url``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_AWS_HOST = re.compile(
    r"^(?:sqs\.(?P<region>[a-z0-9-]+)|(?P<legacy>[a-z0-9-]+)\.queue)\.amazonaws\.com(?P<cn>\.cn)?$"
)
_PATH = re.compile(r"^/(?P<account>\d{12})/(?P<name>[A-Za-z0-9_-]{1,80}(?:\.fifo)?)$")
EXAMPLE = "https://sqs.eu-west-1.amazonaws.com/123456789012/insitu-events"


@dataclass(frozen=True)
class QueueAddress:
    """A parsed queue URL. ``endpoint`` is None for AWS's own SQS endpoint of ``region``."""

    url: str
    region: str
    account: str
    name: str
    endpoint: str | None

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}:sqs:{self.region}:{self.account}:{self.name}"


def parse_queue_url(url: str, *, region: str) -> QueueAddress:
    """Parse ``url``; ValueError saying what is wrong. ``region`` is used for private hosts."""
    parts = urlsplit(url)
    problem = None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problem = "it must be an http(s) URL"
    elif parts.username or parts.password or parts.query or parts.fragment:
        problem = "it must not hold credentials, a query or a fragment"
    match = _PATH.match(parts.path) if problem is None else None
    if problem is None and match is None:
        problem = "its path must be /ACCOUNT_ID/QUEUE_NAME (12 digits, then the queue's name)"
    if problem is not None or match is None:
        raise ValueError(
            f"sqs_queue_url {url!r} is not an SQS queue URL: {problem}; "
            f"copy it from the queue's details, e.g. {EXAMPLE}"
        )
    if match["name"].endswith(".fifo"):
        raise ValueError(
            f"sqs_queue_url {url!r} names a FIFO queue, which S3 cannot send event "
            "notifications to; create a standard queue"
        )
    host = (parts.hostname or "").lower()
    aws = _AWS_HOST.match(host)
    if aws is not None:
        if parts.scheme != "https" or parts.port not in (None, 443):
            raise ValueError(f"sqs_queue_url {url!r}: AWS queues are reached over https only")
        queue_region = aws["region"] or aws["legacy"]
        return QueueAddress(url, queue_region, match["account"], match["name"], None)
    endpoint = f"{parts.scheme}://{parts.netloc}"
    return QueueAddress(url, region, match["account"], match["name"], endpoint)
