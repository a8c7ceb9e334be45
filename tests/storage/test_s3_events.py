"""S3 event messages, sequencers and the setup documents: pure parsing, no server."""

from __future__ import annotations

import json

import pytest

from insitu.storage.base import CREATED, REMOVED
from insitu.storage.s3.events import normalise_sequencer, parse_message
from insitu.storage.s3.policies import notification_configuration, queue_policy
from insitu.storage.s3.queues import parse_queue_url


def record(name: str, key: str, **extra: object) -> dict[str, object]:
    return {
        "eventSource": "aws:s3",
        "eventName": name,
        "s3": {"bucket": {"name": "b"}, "object": {"key": key, **extra}},
    }


def test_records_become_created_and_removed_events_with_keys_decoded_exactly() -> None:
    body = json.dumps(
        {
            "Records": [
                record(
                    "ObjectCreated:Put",
                    "a%2Fx+y%2Bz%25.png",
                    size=3,
                    eTag="e1",
                    sequencer="0055AED6DCD90281E5",
                ),
                record("ObjectCreated:CompleteMultipartUpload", "caf%C3%A9.png", size="7"),
                record("ObjectRemoved:DeleteMarkerCreated", "gone%20now"),
                record("ObjectRestore:Completed", "cold.png"),
            ]
        }
    )
    events = parse_message(body, receipt="r1")
    assert [(e.kind, e.key) for e in events] == [
        (CREATED, "a/x y+z%.png"),
        (CREATED, "café.png"),
        (REMOVED, "gone now"),
    ]
    assert (events[0].size, events[0].etag, events[1].size) == (3, "e1", 7)
    assert events[0].sequencer == "55aed6dcd90281e5".rjust(64, "0")
    assert {e.receipt for e in events} == {"r1"} and events[0].bucket == "b"


def test_test_events_other_messages_and_sns_wrapping() -> None:
    assert parse_message(json.dumps({"Event": "s3:TestEvent", "Bucket": "b"}), receipt="r") == []
    assert parse_message("not json", receipt="r") == []
    wrapped = {
        "Type": "Notification",
        "Message": json.dumps({"Records": [record("ObjectCreated:Copy", "k")]}),
    }
    assert [e.key for e in parse_message(json.dumps(wrapped), receipt="r")] == ["k"]


def test_sequencers_compare_as_hexadecimal_numbers_once_normalised() -> None:
    small, large = normalise_sequencer("FFF"), normalise_sequencer("1000")
    assert small is not None and large is not None and small < large  # "FFF" > "1000" as text
    assert normalise_sequencer("00001000") == large
    assert normalise_sequencer("not-hex") is None and normalise_sequencer(None) is None


def test_queue_urls_name_their_region_account_and_arn() -> None:
    aws = parse_queue_url("https://sqs.eu-west-1.amazonaws.com/123456789012/q", region="x")
    assert (aws.endpoint, aws.arn) == (None, "arn:aws:sqs:eu-west-1:123456789012:q")
    china = parse_queue_url("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", region="x")
    assert china.arn == "arn:aws-cn:sqs:cn-north-1:123456789012:q"
    private = parse_queue_url("http://127.0.0.1:4566/000000000000/q", region="us-east-2")
    assert (private.endpoint, private.region) == ("http://127.0.0.1:4566", "us-east-2")
    with pytest.raises(ValueError, match="FIFO"):
        parse_queue_url("https://sqs.eu-west-1.amazonaws.com/123456789012/q.fifo", region="x")


def test_the_notification_configuration_keeps_others_and_filters_each_prefix() -> None:
    arn = "arn:aws:sqs:eu-west-1:123456789012:q"
    existing = {
        "TopicConfigurations": [
            {"Id": "theirs", "TopicArn": "t", "Events": ["s3:ObjectCreated:*"]}
        ],
        "QueueConfigurations": [{"Id": "insitu-events-1", "QueueArn": "old", "Events": []}],
    }
    document = notification_configuration(arn, ["b/", "a/"], existing)
    assert document["TopicConfigurations"] == existing["TopicConfigurations"]
    assert [
        q["Filter"]["Key"]["FilterRules"][0]["Value"] for q in document["QueueConfigurations"]
    ] == ["a/", "b/"]
    assert all(
        q["QueueArn"] == arn and q["Events"] == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
        for q in document["QueueConfigurations"]
    )
    whole = notification_configuration(arn, [""])["QueueConfigurations"]
    assert len(whole) == 1 and "Filter" not in whole[0]


def test_the_queue_policy_lets_only_the_bucket_send_and_insitus_role_read() -> None:
    arn = "arn:aws:sqs:eu-west-1:123456789012:q"
    role = "arn:aws:iam::111122223333:role/insitu-org-1"
    send, read = queue_policy(arn, "scans", role)["Statement"]
    assert send["Principal"] == {"Service": "s3.amazonaws.com"}
    assert send["Condition"] == {"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::scans"}}
    assert read["Principal"] == {"AWS": role}
    assert read["Action"] == ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    assert len(queue_policy(arn, "scans", None)["Statement"]) == 1
