"""What the S3 and GCS verify tests share: checks by name, and the JSON document a fix prints."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from insitu.storage.base import Check


def by_name(checks: Sequence[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def json_after(text: str, marker: str) -> Any:
    """The JSON document printed right after ``marker`` in a fix."""
    start = text.index(marker) + len(marker)
    document, _ = json.JSONDecoder().raw_decode(text[start:].lstrip())
    return document
