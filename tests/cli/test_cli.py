"""The ``insitu`` command as a user runs it: a real process, real files, exit codes."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.moto import make_s3_client, seed
from tests.images import png

INSITU = str(Path(sys.executable).with_name("insitu"))


@pytest.fixture
def env(tmp_path: Path, data_root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "INSITU_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "INSITU_SECRET_KEY": "cli-test-secret",
        "INSITU_LOCAL_ROOTS": str(data_root),
        "INSITU_PORTAL_ORIGINS": "https://portal.example.com",
        "COLUMNS": "200",
    }


def insitu(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([INSITU, *args], env=env, capture_output=True, text=True, timeout=120)
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def created_id(output: str) -> str:
    match = re.search(r"created(?: for org \w+)?: ([0-9a-f]{32})", output) or re.search(
        r"Connection ([0-9a-f]{32})", output
    )
    assert match, output
    return match.group(1)


@pytest.fixture
def project(env: dict[str, str], data_root: Path) -> dict[str, str]:
    insitu(env, "db", "upgrade")
    org = insitu(env, "org", "create", "acme")
    assert re.search(r"insitu_[\w-]{20,}", org.stdout)
    connection = insitu(env, "connect", "local", "--root", str(data_root))
    project = insitu(env, "project", "create", "scans")
    assert "self-hosted" in project.stdout
    return {"connection": created_id(connection.stdout), "project": created_id(project.stdout)}


def test_import_prints_a_summary_and_assets_lists_the_facts(
    env: dict[str, str], project: dict[str, str], data_root: Path
) -> None:
    (data_root / "a.png").write_bytes(png(4, 3))
    (data_root / "b.png").write_bytes(png(9, 8))
    (data_root / "notes.txt").write_bytes(
        "\N{LATIN SMALL LETTER E WITH ACUTE}t\xe9".encode("latin-1")
    )
    result = insitu(env, "import", f"file://{data_root}/", "--project", project["project"])
    assert re.search(r"succeeded\s*│\s*3\s*│\s*2\s*│\s*0\s*│\s*1", result.stdout), result.stdout
    assert "1 files failed" in result.stdout and "notes.txt" in result.stdout
    assert "not UTF-8" in result.stdout and "Fix: convert it to UTF-8" in result.stdout
    assets = insitu(env, "assets", "--project", project["project"])
    assert "9x8" in assets.stdout and "4x3" in assets.stdout and "image/png" in assets.stdout


def test_files_from_imports_only_the_listed_files(
    env: dict[str, str], project: dict[str, str], data_root: Path, tmp_path: Path
) -> None:
    for name in ("a.png", "b.png", "c.png"):
        (data_root / name).write_bytes(png())
    listing = tmp_path / "files.txt"
    listing.write_text("a.png\n\nc.png\n")
    insitu(
        env,
        "import",
        f"file://{data_root}/",
        "--project",
        project["project"],
        "--files-from",
        str(listing),
    )
    assets = insitu(env, "assets", "--project", project["project"]).stdout
    assert "a.png" in assets and "c.png" in assets and "b.png" not in assets


def test_verify_prints_each_check_and_exits_zero_when_all_pass(
    env: dict[str, str], project: dict[str, str], data_root: Path
) -> None:
    (data_root / "a.png").write_bytes(png())
    result = insitu(env, "verify", f"file://{data_root}/", "--connection", project["connection"])
    assert "All checks passed" in result.stdout
    assert result.stdout.count("ok") >= 5


def test_errors_say_what_failed_and_how_to_fix_with_a_nonzero_exit(
    env: dict[str, str], project: dict[str, str]
) -> None:
    result = insitu(env, "import", "bucket/prefix", "--project", project["project"], ok=False)
    assert result.returncode == 1
    assert "Error:" in result.stderr and "not a storage URI" in result.stderr
    assert "Fix:" in result.stderr and "s3://bucket/prefix/" in result.stderr

    missing = insitu(env, "assets", "--project", "nope", ok=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr

    outside = insitu(env, "connect", "local", "--root", "/etc", ok=False)
    assert outside.returncode == 1 and "INSITU_LOCAL_ROOTS" in outside.stderr


@pytest.fixture(params=["local", "s3"])
def big_source(
    request: pytest.FixtureRequest, env: dict[str, str], project: dict[str, str], data_root: Path
) -> tuple[str, str, int]:
    """(source URI, connection ID, file count): 1,500 small PNGs on disk or in a moto bucket."""
    total = 1500
    names = [f"f{index:05d}.png" for index in range(total)]
    if request.param == "local":
        for name in names:
            (data_root / name).write_bytes(png(2, 2))
        return f"file://{data_root}/", project["connection"], total
    endpoint = request.getfixturevalue("aws_env")
    env.update({name: value for name, value in os.environ.items() if name.startswith("AWS_")})
    client = make_s3_client(endpoint)
    client.create_bucket(Bucket="resume")
    seed(client, "resume", {f"big/{name}": png(2, 2) for name in names})
    connection = insitu(env, "connect", "s3")
    return "s3://resume/big/", created_id(connection.stdout), total


def test_a_killed_import_resumes_with_exactly_one_asset_per_file(
    env: dict[str, str], project: dict[str, str], big_source: tuple[str, str, int], tmp_path: Path
) -> None:
    source, connection, total = big_source
    slow = {**env, "INSITU_IMPORT_BATCH_SIZE": "50", "INSITU_IMPORT_CONCURRENCY": "1"}
    process = subprocess.Popen(
        [INSITU, "import", source, "--project", project["project"], "--connection", connection],
        env=slow,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    database = sqlite3.connect(str(tmp_path / "cli.db"))
    deadline = time.monotonic() + 60
    imported = 0
    while time.monotonic() < deadline:
        row = database.execute("SELECT id, imported FROM import_jobs").fetchone()
        if row and row[1] >= 100:
            job_id, imported = row
            break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert 0 < imported < total, "the import must be killed part-way"
    status = database.execute("SELECT status FROM import_jobs").fetchone()[0]
    assert status == "running"

    early = insitu(env, "import", "--resume", job_id, ok=False)
    assert early.returncode == 1 and "still running" in early.stderr and "--force" in early.stderr
    insitu(env, "import", "--resume", job_id, "--force")
    locations = [row[0] for row in database.execute("SELECT location FROM assets")]
    assert len(locations) == len(set(locations)) == total
    counts = database.execute(
        "SELECT status, imported, already_present, failed FROM import_jobs"
    ).fetchone()
    assert counts[0] == "succeeded"
    assert counts[1] + counts[2] == total and counts[3] == 0
    database.close()


def test_usage_errors_exit_2_and_failed_checks_exit_1(
    env: dict[str, str], project: dict[str, str], data_root: Path
) -> None:
    usage = insitu(env, "project", "create", ok=False)
    assert usage.returncode == 2 and "Missing argument" in usage.stderr
    assert "Traceback" not in usage.stderr
    (data_root / "empty").mkdir()
    verify = insitu(
        env, "verify", f"file://{data_root}/empty/", "--connection", project["connection"], ok=False
    )
    assert verify.returncode == 1 and "FAILED" in verify.stdout


def test_a_database_without_the_schema_says_to_upgrade(env: dict[str, str]) -> None:
    result = insitu(env, "org", "list", ok=False)
    assert result.returncode == 1 and "insitu db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_says_whether_it_created_the_schema_or_found_it_current(
    env: dict[str, str], tmp_path: Path
) -> None:
    new = tmp_path / "var" / "insitu.db"  # its folder does not exist yet either
    env = {**env, "INSITU_DATABASE_URL": f"sqlite:///{new}"}
    created = insitu(env, "db", "upgrade").stdout
    assert stat.S_IMODE(new.stat().st_mode) == 0o600  # secrets and key hashes: owner only
    again = insitu(env, "db", "upgrade").stdout
    assert "Database created at schema" in created
    assert "Database already at schema" in again
    assert created.split("schema ")[1].split(":")[0] == again.split("schema ")[1].split(":")[0]
