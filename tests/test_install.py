"""A real install: the wheel carries every module and the migrations, and ``db upgrade`` works outside the repo.

The wheel goes into a fresh virtualenv without its dependencies; a path entry lends it this
environment's (only its directory: the editable install's import hook is not loaded there). The
whole install with dependencies, and the worker round trip, is scripts/wheel_smoke.sh, which
.ci/run runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUILD_OUTPUT = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".data", ".*_cache", ".hypothesis"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip wheel .`` builds from this checkout."""
    dist, source = tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("src") / "appctl"
    shutil.copytree(REPO, source, ignore=BUILD_OUTPUT)  # setuptools would ship stale files of an old build/
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(source)]
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    (built,) = dist.glob("appctl-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtualenv holding the wheel; its dependencies come from this environment by a path entry."""
    root = tmp_path_factory.mktemp("venv")
    venv.create(root, with_pip=False)
    python = root / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    Path(site, "appctl_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    yield root


def test_the_wheel_holds_every_module_and_the_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {
        str(path.relative_to(REPO))
        for folder in ("cli", "project")
        for path in (REPO / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    migrations = {
        "appctl_migrations/" + str(path.relative_to(REPO / "migrations"))
        for path in (REPO / "migrations").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert sources - names == set()
    assert migrations - names == set()
    assert {"appctl_migrations/env.py", "appctl_migrations/alembic.ini", "appctl_migrations/script.py.mako"} <= names


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_db_upgrade_from_a_wheel_outside_the_repository(installed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(APPCTL_DATA_DIR=str(tmp_path / "data"), FLASK_CONFIG="testing")

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=180)

    where = run(str(installed / "bin" / "python"), "-c", "import project; print(project.MIGRATIONS_DIR)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(installed)
    assert (Path(where.stdout.strip()) / "env.py").is_file()

    upgraded = run(str(installed / "bin" / "appctl"), "db", "upgrade")
    assert (upgraded.returncode, upgraded.stdout) == (0, ""), upgraded.stderr
    assert upgraded.stderr.startswith("Database migrated from base to ")
    status = run(str(installed / "bin" / "appctl"), "db", "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.endswith("\t[]\ttrue\n")
