"""An organization's webhook endpoints, and what insitu delivered to each (admin keys only)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from insitu.api.deps import AfterQuery, CallerDep, LimitQuery, SessionDep, SettingsDep
from insitu.schemas import Page
from insitu.webhooks import service as webhooks
from insitu.webhooks.schemas import (
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryRead,
    WebhookEventType,
    WebhookRead,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.get("/events")
def list_event_types(caller: CallerDep) -> list[WebhookEventType]:
    """The event types an endpoint may subscribe to."""
    return webhooks.event_types()


@router.get("")
def list_webhooks(caller: CallerDep, session: SessionDep) -> list[WebhookRead]:
    """The organization's endpoints; never their secrets."""
    return [webhooks.read(row) for row in webhooks.list_for_org(session, org=caller.org)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_webhook(
    data: WebhookCreate, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> WebhookCreated:
    """A new endpoint; ``secret`` (which signs every delivery) is in this response only."""
    endpoint, secret = webhooks.create(
        session, org=caller.org, data=data, actor=caller.actor, settings=settings
    )
    return WebhookCreated(**webhooks.read(endpoint).model_dump(), secret=secret)


@router.get("/{webhook_id}")
def get_webhook(webhook_id: str, caller: CallerDep, session: SessionDep) -> WebhookRead:
    return webhooks.read(webhooks.get(session, org=caller.org, webhook_id=webhook_id))


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(webhook_id: str, caller: CallerDep, session: SessionDep) -> Response:
    """Stop sending to the endpoint at once; deliveries not sent yet are dropped."""
    endpoint = webhooks.get(session, org=caller.org, webhook_id=webhook_id)
    webhooks.delete(session, endpoint=endpoint, actor=caller.actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id}/deliveries")
def list_deliveries(
    webhook_id: str,
    caller: CallerDep,
    session: SessionDep,
    after: AfterQuery = None,
    limit: LimitQuery = 100,
) -> Page[WebhookDeliveryRead]:
    """What was sent to the endpoint, newest first, each with every attempt and its answer."""
    endpoint = webhooks.get(session, org=caller.org, webhook_id=webhook_id)
    items, next_cursor = webhooks.list_deliveries(
        session, endpoint=endpoint, after=after, limit=limit
    )
    return Page(items=items, next=next_cursor)


@router.post("/{webhook_id}/ping", status_code=status.HTTP_202_ACCEPTED)
def ping_webhook(webhook_id: str, caller: CallerDep, session: SessionDep) -> dict[str, str]:
    """Send a ``ping`` event to the endpoint; its delivery shows in the deliveries list."""
    endpoint = webhooks.get(session, org=caller.org, webhook_id=webhook_id)
    delivery = webhooks.ping(session, endpoint=endpoint)
    return {"delivery_id": delivery.id, "event_id": delivery.event_id}
