"""Every ORM model, imported in one place so metadata and Alembic see them all."""

from insitu.assets.models import Asset, AssetEvent, SignedUrlIssue
from insitu.audit.models import AuditEvent
from insitu.azure.models import AzureConsentState, AzureTenant
from insitu.connections.models import Connection
from insitu.db import Base
from insitu.imports.models import ImportFailure, ImportJob
from insitu.organizations.models import ApiKey, EndpointGrant, Organization
from insitu.projects.models import Project
from insitu.reconcile.models import ReconcileJob
from insitu.watch.models import EventLease, EventSequencer, ProjectWatch
from insitu.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiKey",
    "Asset",
    "AssetEvent",
    "AuditEvent",
    "AzureConsentState",
    "AzureTenant",
    "Base",
    "Connection",
    "EndpointGrant",
    "EventLease",
    "EventSequencer",
    "ImportFailure",
    "ImportJob",
    "Organization",
    "Project",
    "ProjectWatch",
    "ReconcileJob",
    "SignedUrlIssue",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
