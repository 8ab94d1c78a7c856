"""The chapter's own commands, verbatim, from the repository root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import worker_process

ROOT = Path(__file__).resolve().parent.parent
SHELL_SCRIPT = """\
print(type(app).__name__, app.name)
print(type(db).__name__)
from project.users.models import User
print(db.session.query(User).count())
"""


@pytest.fixture
def chapter_env(env: dict[str, str]) -> dict[str, str]:
    """The test's environment with FLASK_APP=app.py and the virtualenv's flask and celery on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, "FLASK_APP": "app.py", "PATH": path}


def run(command: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``command`` through the shell from the repository root, as the chapter's reader would."""
    return subprocess.run(
        command, shell=True, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=90
    )


def test_flask_db_upgrade_then_flask_shell(chapter_env: dict[str, str]) -> None:
    upgraded = run("flask db upgrade", chapter_env)
    assert upgraded.returncode == 0, upgraded.stderr
    shell = run("flask shell", chapter_env, stdin=SHELL_SCRIPT)
    assert shell.returncode == 0, shell.stderr
    assert "Flask project\n" in shell.stdout
    assert "SQLAlchemy\n" in shell.stdout
    assert "0\n" in shell.stdout  # the users table exists and is empty


def test_flask_db_migrate_without_model_changes_writes_no_revision(chapter_env: dict[str, str], tmp_path: Path) -> None:
    import shutil

    migrations = tmp_path / "migrations"  # a copy: the test writes nothing into the repository
    shutil.copytree(ROOT / "migrations", migrations, ignore=shutil.ignore_patterns("__pycache__"))
    assert run("flask db upgrade", chapter_env).returncode == 0
    before = sorted(path.name for path in (migrations / "versions").glob("*.py"))
    migrated = run(f"flask db migrate -d {migrations} -m nothing", chapter_env)
    assert migrated.returncode == 0, migrated.stderr
    assert "No changes in schema detected." in migrated.stdout + migrated.stderr
    assert sorted(path.name for path in (migrations / "versions").glob("*.py")) == before


@pytest.mark.slow
def test_celery_worker_runs_divide_delay(chapter_env: dict[str, str], tmp_path: Path) -> None:
    assert run("flask db upgrade", chapter_env).returncode == 0
    command = ["celery", "-A", "app.celery", "worker", "--loglevel=info"]
    with worker_process(command, chapter_env, tmp_path / "worker.log", cwd=ROOT) as worker:
        assert "[tasks]\n  . project.users.tasks.divide\n" in worker.log()
        script = "from project.users.tasks import divide\nprint(divide.delay(1, 2).get(timeout=30))\n"
        shell = run("flask shell", chapter_env, stdin=script)
    assert shell.returncode == 0, shell.stderr
    assert "0.5\n" in shell.stdout
    assert "succeeded in" in worker.log()


def test_the_chapters_modules_keep_their_names() -> None:
    """The chapter's files are where it puts them (DESIGN.md, "Origin"): a refactor moves code around them."""
    import importlib

    names = {
        "project": ("create_app", "db", "migrate"),
        "project.config": ("BaseConfig", "DevelopmentConfig", "ProductionConfig", "TestingConfig", "config"),
        "project.celery_utils": ("celery_init_app",),
        "project.users": ("users_blueprint",),
        "project.users.models": ("User",),
        "project.users.tasks": ("divide",),
    }
    for module, attributes in names.items():
        loaded = importlib.import_module(module)
        assert all(hasattr(loaded, name) for name in attributes), module
