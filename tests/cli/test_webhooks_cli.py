"""``insitu webhooks`` as the operator runs it on the server."""

from __future__ import annotations

import re

from tests.cli.test_cli import insitu
from tests.cli.test_keys_cli import env, org_id  # noqa: F401 (fixtures)


def test_webhooks_create_list_deliveries_and_delete(
    env: dict[str, str],  # noqa: F811
    org_id: str,  # noqa: F811
) -> None:
    created = insitu(
        env, "webhooks", "create", "--org", org_id, "--url", "http://127.0.0.1:9/hooks",
        "--event", "import.finished", "--event", "assets.removed",
    )  # fmt: skip
    webhook_id = re.search(r"Webhook ([0-9a-f]{32}) created", created.stdout)
    secret = re.search(r"(whsec_\S+)", created.stdout)
    assert webhook_id and secret, created.stdout

    listed = insitu(env, "webhooks", "list", "--org", org_id).stdout
    assert webhook_id.group(1) in listed and "import.finished, assets.removed" in listed
    assert secret.group(1) not in listed
    deliveries = insitu(env, "webhooks", "deliveries", "--org", org_id, webhook_id.group(1))
    assert "delivery" in deliveries.stdout

    deleted = insitu(env, "webhooks", "delete", "--org", org_id, webhook_id.group(1))
    assert "nothing more is sent to it" in deleted.stdout
