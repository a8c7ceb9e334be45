"""The API against its own OpenAPI: no 5xx, and no response its schema does not describe.

A bounded schemathesis run (a few examples per operation) with two organizations: each case
is sent as org A; where a project ID goes it is sent again naming org A's project, as org A
(so the body reaches the import's validation) and as org B (who must get a 404 or a 4xx).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from insitu.config import Settings
from insitu.jobs.inline import InlineBackend
from tests.conftest import Org, make_org

# What is asserted: no 5xx, and every response is one the schema documents, in its shape.
# (Not whether a schema-valid request must succeed: "provider": "x" fits the schema's string
# and is rightly refused as an unknown provider.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def two_orgs(settings: Settings, worker: InlineBackend) -> Iterator[dict[str, Any]]:
    from insitu.api.app import create_app

    app = create_app(settings)
    org_a, org_b = make_org(settings, "org-a"), make_org(settings, "org-b")
    with TestClient(app) as client:
        project = client.post("/v1/projects", json={"name": "a"}, headers=org_a.headers)
        assert project.status_code == 201
        yield {"app": app, "a": org_a, "b": org_b, "project_a": project.json()["id"]}


def test_the_api_keeps_to_its_schema(two_orgs: dict[str, Any]) -> None:
    org_a: Org = two_orgs["a"]
    org_b: Org = two_orgs["b"]
    api_schema = schemathesis.openapi.from_asgi("/openapi.json", two_orgs["app"])
    failures: list[str] = []
    operations = 0

    def check(case: Any, headers: dict[str, str], *, expect: tuple[int, ...] = ()) -> None:
        try:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
        except Exception as exc:  # a failed check: keep going, report them all at the end
            failures.append(f"{case.operation.label}: {exc}"[:2000])
            return
        if expect and response.status_code not in expect:
            failures.append(f"{case.operation.label} as org B: {response.status_code}")

    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=5,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: Any) -> None:
            check(case, org_a.headers)
            if case.path_parameters and "project_id" in case.path_parameters:
                case.path_parameters["project_id"] = two_orgs["project_a"]
                check(case, org_a.headers)  # its own project: the body is what is tested
                check(case, org_b.headers, expect=(404, 413, 422))

        run()
    assert operations > 20
    assert not failures, "\n\n".join(dict.fromkeys(failures))
