"""Canceling data from the command line: remove, restore, and cancel an import with its assets."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.test_cli import env, insitu, project  # noqa: F401  (fixtures)
from tests.images import png


def asset_ids(output: str) -> list[str]:
    return re.findall(r"^│ ([0-9a-f]{32})", output, flags=re.MULTILINE)


def test_remove_by_prefix_then_restore_one(
    env: dict[str, str],  # noqa: F811
    project: dict[str, str],  # noqa: F811
    data_root: Path,
) -> None:
    (data_root / "keep").mkdir()
    (data_root / "drop").mkdir()
    (data_root / "keep" / "a.png").write_bytes(png(4, 3))
    (data_root / "drop" / "b.png").write_bytes(png(5, 3))
    (data_root / "drop" / "c.png").write_bytes(png(6, 3))
    insitu(env, "import", f"file://{data_root}/", "--project", project["project"])

    removed = insitu(
        env, "remove", "--project", project["project"], "--prefix", f"file://{data_root}/drop/"
    )
    assert "2 assets left circulation" in removed.stdout
    active = insitu(env, "assets", "--project", project["project"])
    assert "4x3" in active.stdout and "5x3" not in active.stdout
    gone = insitu(env, "assets", "--project", project["project"], "--status", "removed")
    assert gone.stdout.count("removed: canceled") == 2

    back = asset_ids(gone.stdout)[0]
    restored = insitu(env, "restore", back)
    assert "is back in circulation" in restored.stdout
    assert len(asset_ids(insitu(env, "assets", "--project", project["project"]).stdout)) == 2


def test_cancel_with_remove_assets_and_a_misused_flag(
    env: dict[str, str],  # noqa: F811
    project: dict[str, str],  # noqa: F811
    data_root: Path,
) -> None:
    (data_root / "a.png").write_bytes(png(4, 3))
    result = insitu(env, "import", f"file://{data_root}/", "--project", project["project"])
    job = re.search(r"Import ID: ([0-9a-f]{32})", result.stdout)
    assert job, result.stdout
    canceled = insitu(env, "import", "--cancel", job[1], "--remove-assets")
    assert "1 of its assets left circulation" in canceled.stdout
    assert asset_ids(insitu(env, "assets", "--project", project["project"]).stdout) == []

    misused = insitu(env, "import", "--remove-assets", ok=False)
    assert misused.returncode == 1 and "--cancel" in misused.stderr
