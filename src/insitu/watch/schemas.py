from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class WatchedPrefix(BaseModel):
    source: str = Field(description="A prefix the project imported from, followed by events.")
    connection_id: str
    queue: str = Field(description="The queue its storage events arrive on.")
    consuming: bool = Field(description="Whether a consumer holds the queue right now.")
    events_applied: int = Field(description="Events the queue's consumers applied so far.")
    last_event_at: datetime | None
    last_error: str | None = Field(description="Why the consumer's last batch failed, if it did.")


class WatchRead(BaseModel):
    project_id: str
    watching: bool
    since: datetime | None
    prefixes: list[WatchedPrefix]


class SetupDocumentRead(BaseModel):
    name: str
    description: str
    document: Any = Field(description="The exact JSON to apply.")
    command: str = Field(description="The command that applies it.")


class EventsSetupRead(BaseModel):
    connection_id: str
    sources: list[str]
    documents: list[SetupDocumentRead]
