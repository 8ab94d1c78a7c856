"""The migrated schema and the models agree, on SQLite and PostgreSQL: autogenerate finds nothing to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import run_appctl

ROOT = Path(__file__).resolve().parents[1]


def schema_differences(env: dict[str, str]) -> list[Any]:
    """What Alembic's autogenerate would change to make the migrated database match the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from project import create_app, db

    options = {"compare_type": True, "compare_server_default": True, "render_as_batch": True}
    with create_app("testing").app_context():
        with db.engine.connect() as connection:
            differences: list[Any] = compare_metadata(MigrationContext.configure(connection, opts=options), db.metadata)
        db.engine.dispose()
    return differences


def test_the_models_hold_every_table_the_migrations_create(database_env: dict[str, str]) -> None:
    from project import create_app, db

    assert run_appctl("db", "upgrade", env=database_env).returncode == 0
    with create_app("testing").app_context():
        assert {"users", "jobs", "worker_heartbeats"} <= set(db.metadata.tables)


def test_the_migrated_schema_matches_the_models(database_env: dict[str, str]) -> None:
    upgraded = run_appctl("db", "upgrade", env=database_env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert schema_differences(database_env) == []


def test_the_chapters_flask_db_check_finds_nothing_to_do(database_env: dict[str, str]) -> None:
    upgraded = run_appctl("db", "upgrade", env=database_env)
    assert upgraded.returncode == 0, upgraded.stderr
    command = [sys.executable, "-m", "flask", "db", "check"]
    checked = subprocess.run(
        command, env={**database_env, "FLASK_APP": "app.py"}, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stderr
    assert "No new upgrade operations detected." in checked.stdout + checked.stderr
