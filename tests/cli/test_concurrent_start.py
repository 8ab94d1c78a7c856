"""Several appctl processes started at once on a fresh data directory all work (cron, xargs -P)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import APPCTL, HANG, run_appctl

PROCESSES = 6


@pytest.mark.slow  # a process race (or Ctrl-C in the middle): `make test-all`
def test_sends_started_together_on_a_fresh_data_directory_all_succeed(env: dict[str, str], tmp_path: Path) -> None:
    fresh = {**env, "APPCTL_DATA_DIR": str(tmp_path / "fresh" / "data")}
    processes = [
        subprocess.Popen(
            [APPCTL, "task", "send", "divide", "1", "2"],
            env=fresh,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    outcomes = [process.communicate(timeout=HANG) for process in processes]
    assert [process.returncode for process in processes] == [0] * PROCESSES, [err for _, err in outcomes]
    assert len({out for out, _ in outcomes}) == PROCESSES  # one job id each
    assert (tmp_path / "fresh" / "data").stat().st_mode & 0o777 == 0o700


def test_a_data_directory_that_is_a_file_is_a_config_error(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = run_appctl("task", "send", "divide", "1", "2", env={**env, "APPCTL_DATA_DIR": str(tmp_path / "file")})
    assert (result.returncode, result.stdout) == (78, "")
    assert result.stderr.startswith(f"Error: APPCTL_DATA_DIR {tmp_path / 'file'} is not a directory")
