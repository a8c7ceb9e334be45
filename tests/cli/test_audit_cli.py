"""``insitu audit export``: the operator's own actions and an org's log, as JSON lines."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.cli.test_cli import created_id, env, insitu

__all__ = ["env"]  # the CLI tests' fixture: a fresh SQLite database and local root


def test_operator_actions_are_audited_and_exported_as_json_lines(
    env: dict[str, str], data_root: Path, tmp_path: Path
) -> None:
    insitu(env, "db", "upgrade")
    org_id = created_id(insitu(env, "org", "create", "acme").stdout)
    other_id = created_id(insitu(env, "org", "create", "globex").stdout)
    connection = created_id(
        insitu(env, "connect", "local", "--root", str(data_root), "--org", org_id).stdout
    )

    output = tmp_path / "audit.jsonl"
    insitu(env, "audit", "export", "--org", org_id, "--output", str(output))
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    events = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(e["action"], e["actor"], e["target"]) for e in events] == [
        ("connection.created", "operator", {"type": "connection", "id": connection}),
        ("organization.created", "operator", {"type": "organization", "id": org_id}),
    ]
    assert events[0]["details"]["provider"] == "local"

    # To stdout, filtered; and another org's log holds none of the first's events.
    only = insitu(env, "audit", "export", "--org", org_id, "--action", "organization.created")
    assert [json.loads(line)["action"] for line in only.stdout.splitlines()] == [
        "organization.created"
    ]
    theirs = insitu(env, "audit", "export", "--org", other_id).stdout.splitlines()
    assert [json.loads(line)["target"]["id"] for line in theirs] == [other_id]


def test_exporting_an_unknown_org_says_so(env: dict[str, str]) -> None:
    insitu(env, "db", "upgrade")
    result = insitu(env, "audit", "export", "--org", "nope", ok=False)
    assert result.returncode == 1
    assert "organization nope does not exist" in result.stderr
