from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from insitu.schemas import DisplayName


class WebhookCreate(BaseModel):
    url: str = Field(
        min_length=1,
        max_length=2000,
        description="Where events are POSTed: https (http only for a private endpoint the "
        "operator allowed, or in development).",
    )
    event_types: list[str] = Field(
        min_length=1, max_length=20, description="The events to send (GET /v1/webhooks/events)."
    )
    description: DisplayName | None = None


class WebhookRead(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str | None
    created_at: datetime


class WebhookCreated(WebhookRead):
    secret: str = Field(
        description="Signs every delivery (the Insitu-Signature header). Shown only in this "
        "response: keep it where your receiver reads it."
    )


class WebhookAttemptRead(BaseModel):
    at: datetime
    status_code: int | None = Field(description="What the endpoint answered, if it answered.")
    error: str | None = Field(description="Why the attempt did not deliver, if it did not.")
    duration_ms: int


class WebhookDeliveryRead(BaseModel):
    id: str = Field(description="Sent as the Insitu-Delivery header.")
    event_id: str = Field(description="The event's id (the body's id), the same for each endpoint.")
    event_type: str
    status: str = Field(description="pending (being sent or retried), delivered or failed.")
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When it is tried next, if pending.")
    delivered_at: datetime | None
    last_error: str | None = Field(
        description="Why the last attempt failed, or why it was given up without one."
    )
    payload: dict[str, Any] = Field(description="The JSON body sent.")
    attempts: list[WebhookAttemptRead] = Field(description="Every attempt, oldest first.")


class WebhookEventType(BaseModel):
    type: str
    description: str
