"""``insitu audit export``: the operator's own actions and an org's log, as JSON lines."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

from tests.cli.test_cli import created_id, env, insitu

__all__ = ["env"]  # the CLI tests' fixture: a fresh SQLite database and local root


def test_operator_actions_are_audited_and_exported_as_json_lines(
    env: dict[str, str], data_root: Path, tmp_path: Path
) -> None:
    insitu(env, "db", "upgrade")
    created = insitu(env, "org", "create", "acme").stdout
    org_id = created_id(created)
    printed = re.search(r"insitu_\S+", created)
    assert printed is not None, created
    key = printed.group()
    other_id = created_id(insitu(env, "org", "create", "globex").stdout)
    connection = created_id(
        insitu(env, "connect", "local", "--root", str(data_root), "--org", org_id).stdout
    )

    output = tmp_path / "audit.jsonl"
    insitu(env, "audit", "export", "--org", org_id, "--output", str(output))
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    exported, *events = [json.loads(line) for line in output.read_text().splitlines()]
    assert (exported["action"], exported["actor"]) == ("audit.exported", "operator")
    assert [(e["action"], e["actor"], e["target"]["type"]) for e in events] == [
        ("connection.created", "operator", "connection"),
        ("api_key.created", "operator", "api_key"),
        ("organization.created", "operator", "organization"),
    ]
    assert [e["target"]["id"] for e in events[::2]] == [connection, org_id]
    assert events[0]["details"]["provider"] == "local"
    # The key printed by 'org create' is the one recorded, by its prefix, never in full.
    assert events[1]["details"]["prefix"] == key[:12] and key not in output.read_text()

    # To stdout, filtered; and another org's log holds none of the first's events.
    only = insitu(env, "audit", "export", "--org", org_id, "--action", "organization.created")
    assert [json.loads(line)["action"] for line in only.stdout.splitlines()] == [
        "organization.created"
    ]
    theirs = insitu(env, "audit", "export", "--org", other_id).stdout.splitlines()
    assert [json.loads(line)["action"] for line in theirs] == [
        "audit.exported",
        "api_key.created",
        "organization.created",
    ]
    assert json.loads(theirs[2])["target"]["id"] == other_id


def test_exporting_an_unknown_org_says_so(env: dict[str, str]) -> None:
    insitu(env, "db", "upgrade")
    result = insitu(env, "audit", "export", "--org", "nope", ok=False)
    assert result.returncode == 1
    assert "organization nope does not exist" in result.stderr
