"""``make run``'s script: the whole flow on the embedded default, with no server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import APPCTL

DEMO = Path(__file__).resolve().parent.parent / "scripts" / "demo.sh"


@pytest.mark.slow
def test_demo_prints_the_user_and_half(env: dict[str, str], tmp_path: Path) -> None:
    done = subprocess.run(
        [str(DEMO)], env={**env, "APPCTL": APPCTL}, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "1\tdemo\tdemo@example.com\ttrue\n1\tdemo\tdemo@example.com\ttrue\n0.5\n"
    assert "Database migrated from base to " in done.stderr
    assert "Sent divide(1, 2) as " in done.stderr
    assert "Traceback" not in done.stderr
