"""Each kind of Alembic failure gets its own exit code: only an unknown revision is "not found" (3).

A migrations folder that is missing or cannot be read is a configuration error (78), as is a
database at a revision the migrations lack; a revision argument that names no possible target is
invalid input (65).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

import project
from cli import cli

REV_BRANCH = """revision = "0099"
down_revision = "0001"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
"""


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the migrations folder that the app uses instead of the real one."""
    folder = tmp_path / "migrations"
    shutil.copytree(project.MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(project, "MIGRATIONS_DIR", folder)
    return folder


def test_the_migrations_folder_is_the_installed_package() -> None:
    from importlib.util import find_spec

    spec = find_spec("appctl_migrations")
    assert spec is not None and spec.submodule_search_locations is not None
    assert Path(next(iter(spec.submodule_search_locations))) == project.MIGRATIONS_DIR
    assert (project.MIGRATIONS_DIR / "env.py").is_file()


@pytest.mark.parametrize("command", [("db", "upgrade"), ("db", "status"), ("db", "downgrade", "base", "--yes")])
def test_a_missing_migrations_folder_is_a_configuration_error(
    runner: CliRunner, env: dict[str, str], migrations: Path, command: tuple[str, ...]
) -> None:
    shutil.rmtree(migrations)
    code, stdout, stderr = invoke(runner, *command)
    assert (code, stdout) == (78, "")
    assert stderr.startswith(f"Error: cannot read the migrations at {migrations}: Path doesn't exist")
    assert "reinstall" in stderr and stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("broken", "text", "reason"),
    [
        ("env.py", None, "No such file or directory"),
        ("env.py", "def run(:\n", "invalid syntax"),
        ("versions/0002_create_job_history.py", "raise RuntimeError('half-written file')\n", "half-written file"),
        ("versions/0002_create_job_history.py", "x = 1\n", "Could not determine revision id"),
        ("versions/0099_branch.py", REV_BRANCH, "have 2 head revisions, not one"),
    ],
)
def test_a_broken_migrations_folder_is_a_configuration_error(
    runner: CliRunner, env: dict[str, str], migrations: Path, broken: str, text: str | None, reason: str
) -> None:
    path = migrations / broken
    if text is None:
        path.unlink()
    else:
        path.write_text(text)
    for command in (("db", "upgrade"), ("db", "status")):
        code, stdout, stderr = invoke(runner, *command)
        assert (code, stdout) == (78, ""), stderr
        assert reason in stderr and stderr.count("\n") == 1


def test_a_database_at_a_revision_the_migrations_lack_is_a_configuration_error(
    runner: CliRunner, env: dict[str, str]
) -> None:
    assert invoke(runner, "db", "upgrade")[0] == 0
    with sqlite3.connect(Path(env["APPCTL_DATA_DIR"]) / "app.sqlite") as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00d'")
    for command in (("db", "upgrade"), ("db", "status"), ("db", "downgrade", "0001", "--yes")):
        code, stdout, stderr = invoke(runner, *command)
        assert (code, stdout) == (78, "")
        assert stderr.startswith("Error: the database is at revision 'f00d', which these migrations do not have")


@pytest.mark.parametrize("revision", ["nope", "nope+1", "zz@head", "zz@-1", "f00d"])
@pytest.mark.parametrize("action", ["upgrade", "downgrade"])
def test_an_unknown_revision_is_not_found(runner: CliRunner, env: dict[str, str], action: str, revision: str) -> None:
    assert invoke(runner, "db", "upgrade", "0001")[0] == 0
    code, stdout, stderr = invoke(runner, "db", action, revision, *(["--yes"] if action == "downgrade" else []))
    assert (code, stdout) == (3, "")
    assert stderr.startswith(f"Error: no revision {revision!r}")


@pytest.mark.parametrize(
    ("action", "revision", "reason"),
    [
        ("downgrade", "0002", "Destination 0002 is not a valid downgrade target"),
        ("downgrade", "-5", "Relative revision -5 didn't produce 5 migrations"),
        ("upgrade", "+9", "Relative revision +9 didn't produce 9 migrations"),
        ("upgrade", "0001:0002", "Range revision not allowed"),
        ("upgrade", "0001+9", "not a revision Alembic can parse"),
        ("upgrade", "", "not a revision Alembic can parse"),
    ],
)
def test_a_revision_that_is_no_possible_target_is_invalid_input(
    runner: CliRunner, env: dict[str, str], action: str, revision: str, reason: str
) -> None:
    assert invoke(runner, "db", "upgrade", "0001")[0] == 0
    options = ["--yes"] if action == "downgrade" else []
    code, stdout, stderr = invoke(runner, "db", action, *options, "--", revision)
    assert (code, stdout) == (65, ""), stderr
    assert stderr.startswith(f"Error: cannot migrate to {revision!r}: {reason}")
    assert invoke(runner, "db", "status", "-o", "json")[1].startswith('{"current": "0001"')


def test_status_names_a_broken_migrations_folder(runner: CliRunner, env: dict[str, str], migrations: Path) -> None:
    shutil.rmtree(migrations)
    code, stdout, _ = invoke(runner, "status", "-o", "json")
    assert code == 1
    assert f"cannot read the migrations at {migrations}: Path doesn't exist" in stdout
