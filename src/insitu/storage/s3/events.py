"""S3 event notifications through SQS: the ``s3`` provider's ``EventSource``.

The customer's bucket sends ``s3:ObjectCreated:*`` and ``s3:ObjectRemoved:*`` notifications to
a standard SQS queue the connection names; insitu long-polls it with the connection's own
identity (the same role chain or keys as its reads) and deletes a message only when told to,
after what it says is committed. Delivery is at least once and unordered: S3's ``sequencer``
orders the events of one key, so it is normalised here (hex, left-padded to a fixed width) for
plain string comparison. Keys arrive URL-encoded as form values (``a%2Fx+y.png`` is
``a/x y.png``) and are decoded exactly. S3's ``s3:TestEvent`` and records of other kinds
(restores, lifecycle transitions, tagging) carry nothing to apply; S3 -> SNS -> SQS fan-out
messages are unwrapped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote_plus

from botocore.config import Config

from insitu.errors import AccessDenied, InsituError, StorageError, StorageUnreachable
from insitu.storage.base import CREATED, REMOVED, EventBatch, StorageEvent
from insitu.storage.s3.identity import BOTO_ERRORS, Identity, _config
from insitu.storage.s3.queues import QueueAddress
from insitu.storage.s3.transport import guard_connections

log = logging.getLogger(__name__)

SEQUENCER_WIDTH = 64
_DELETE_BATCH = 10  # SQS DeleteMessageBatch takes at most ten entries


class SqsEventSource:
    """One connection's SQS queue of S3 event notifications."""

    def __init__(self, identity: Identity, queue: QueueAddress) -> None:
        self.identity, self.address = identity, queue
        self.queue = queue.url
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            # Signed for the queue's own region, at its own endpoint when it is a private one
            # (then every connection's peer is checked, as for a customer's S3 endpoint).
            client = self.identity.session.client(
                "sqs",
                region_name=self.address.region,
                endpoint_url=self.address.endpoint,
                # Reads wait longer than the longest long poll (20 s).
                config=_config().merge(Config(read_timeout=40)),
            )
            if self.address.endpoint is not None:
                guard_connections(client, self.identity.private_endpoints)
            for event, handler in self.identity.hooks:
                client.meta.events.register(event, handler)
            self._client = client
        return self._client

    def receive(self, *, wait_seconds: int, max_messages: int = 10) -> EventBatch:
        """Up to ``max_messages`` messages, long-polling up to ``wait_seconds`` (at most 20)."""
        try:
            answer = self.client.receive_message(
                QueueUrl=self.queue,
                MaxNumberOfMessages=max(1, min(max_messages, 10)),
                WaitTimeSeconds=max(0, min(int(wait_seconds), 20)),
            )
        except BOTO_ERRORS as exc:
            raise queue_error(exc, "receiving event notifications", self.address) from exc
        events: list[StorageEvent] = []
        receipts: list[str] = []
        for message in answer.get("Messages", []):
            receipt = message["ReceiptHandle"]
            receipts.append(receipt)
            events.extend(parse_message(message.get("Body", ""), receipt=receipt))
        return EventBatch(events, receipts)

    def acknowledge(self, receipts: Sequence[str]) -> None:
        """Delete these messages; one that fails to go comes back and changes nothing twice."""
        unique = list(dict.fromkeys(receipts))
        for start in range(0, len(unique), _DELETE_BATCH):
            entries = [
                {"Id": str(n), "ReceiptHandle": receipt}
                for n, receipt in enumerate(unique[start : start + _DELETE_BATCH])
            ]
            try:
                answer = self.client.delete_message_batch(QueueUrl=self.queue, Entries=entries)
            except BOTO_ERRORS as exc:
                raise queue_error(exc, "deleting applied notifications", self.address) from exc
            for failed in answer.get("Failed", []):
                log.warning(
                    "SQS kept message %s on %s: %s",
                    failed.get("Id"),
                    self.queue,
                    failed.get("Message"),
                )

    def attributes(self) -> dict[str, str]:
        """The queue's attributes (its ARN, policy, message counts): reachable and readable?"""
        try:
            answer = self.client.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["All"])
        except BOTO_ERRORS as exc:
            raise queue_error(exc, "reading the event queue's attributes", self.address) from exc
        return dict(answer.get("Attributes", {}))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def parse_message(body: str, *, receipt: str) -> list[StorageEvent]:
    """The object events in one SQS message body (none for a test event or another kind)."""
    try:
        document = json.loads(body)
        if isinstance(document, dict) and document.get("Type") == "Notification":
            document = json.loads(document.get("Message", ""))  # through SNS
    except (TypeError, ValueError):
        log.warning("an event queue message is not JSON; it is dropped: %.200r", body)
        return []
    if not isinstance(document, dict) or document.get("Event") == "s3:TestEvent":
        return []
    events = []
    for record in document.get("Records") or []:
        event = _event_of(record, receipt)
        if event is not None:
            events.append(event)
    return events


def _event_of(record: Any, receipt: str) -> StorageEvent | None:
    try:
        name = str(record.get("eventName", ""))
        kind = CREATED if name.startswith("ObjectCreated:") else None
        kind = REMOVED if name.startswith("ObjectRemoved:") else kind
        if kind is None:
            return None
        s3 = record["s3"]
        bucket, item = str(s3["bucket"]["name"]), s3["object"]
        # S3 encodes keys as form values: "+" is a space and "%2B" a plus.
        key = unquote_plus(str(item["key"]), encoding="utf-8", errors="strict")
    except (AttributeError, KeyError, TypeError, UnicodeDecodeError):
        log.warning("an S3 event record is malformed; it is dropped: %.300r", record)
        return None
    size = item.get("size")
    etag = item.get("eTag")
    return StorageEvent(
        bucket=bucket,
        key=key,
        kind=kind,
        receipt=receipt,
        sequencer=normalise_sequencer(item.get("sequencer")),
        etag=str(etag) if etag else None,
        size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
    )


def normalise_sequencer(value: object) -> str | None:
    """``value`` as lowercase hex left-padded to a fixed width, so later sorts greater as text.

    S3 says a greater hexadecimal value is a later event of the same key; values of different
    lengths compare as numbers, hence the padding. Anything not hex is no sequencer at all.
    """
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().lower()
    if len(text) > SEQUENCER_WIDTH or any(char not in "0123456789abcdef" for char in text):
        return None
    return text.rjust(SEQUENCER_WIDTH, "0")


def queue_error(exc: Exception, what: str, queue: QueueAddress) -> InsituError:
    """An SQS error as insitu's, with the fix for the queue."""
    import botocore.exceptions

    cause = (
        exc.kwargs.get("error") if isinstance(exc, botocore.exceptions.HTTPClientError) else None
    )
    if isinstance(cause, InsituError):  # refused by insitu's own connection check
        return cause
    if isinstance(
        exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError
    ):
        return StorageUnreachable(
            f"{what} failed: cannot reach {queue.endpoint or f'SQS in {queue.region}'}",
            fix="check that the queue's endpoint is reachable from the insitu servers",
        )
    code, message = "", str(exc)
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    detail = f"{what} on {queue.url} failed: {code or type(exc).__name__} ({message[:300]})"
    if "NonExistentQueue" in code or "QueueDoesNotExist" in code:
        return StorageError(
            detail,
            fix=f"check sqs_queue_url: the queue {queue.name} does not exist in "
            f"account {queue.account}, region {queue.region}",
        )
    if code in (
        "AccessDenied",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "KMS.AccessDeniedException",
    ):
        return AccessDenied(
            detail,
            fix="allow insitu's role sqs:ReceiveMessage, sqs:DeleteMessage and "
            f"sqs:GetQueueAttributes on {queue.arn} (GET /v1/connections/ID/events/setup "
            "prints the statement; an SSE-KMS queue also needs kms:Decrypt on its key)",
        )
    return StorageError(detail, fix="retry; if it persists, check the queue in the SQS console")
