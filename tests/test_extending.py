"""docs/extending.md, followed end to end: a task module outside the package, listed, sent, waited for."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import APPCTL, run_appctl
from tests.processes import worker_process

EXTENDING = (Path(__file__).resolve().parent.parent / "docs" / "extending.md").read_text()
SECTION = EXTENDING.split("## Add a task", 1)[1].split("\n## ", 1)[0]


def _block(language: str) -> str:
    """The first fenced block of ``language`` in the section "Add a task"."""
    return SECTION.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def _console_output(command: str) -> str:
    """The output the doc shows after ``$ command`` (up to the next ``$`` line)."""
    lines = _block("console").splitlines()
    start = lines.index(f"$ {command}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("$ ")), len(lines))
    return "".join(line + "\n" for line in lines[start:end])


def _doc_environment(env: dict[str, str], directory: Path) -> dict[str, str]:
    """``env`` with the doc's ``export`` line applied, its directory replaced by ``directory``."""
    code = _block("python")
    module_file = re.match(r"# (\w+\.py), in a directory on PYTHONPATH \(here (\S+)\)", code)
    assert module_file, "the task's code block starts with its file name and directory"
    (directory / module_file[1]).write_text(code)
    export = next(line for line in _block("console").splitlines() if line.startswith("$ export "))
    settings = dict(item.split("=", 1) for item in export.removeprefix("$ export ").split())
    settings["PYTHONPATH"] = settings["PYTHONPATH"].replace(module_file[2], str(directory))
    return {**env, **settings}


def test_a_task_module_added_as_the_doc_says_is_listed_sent_and_waited_for(env: dict[str, str], tmp_path: Path) -> None:
    doc_env = _doc_environment(env, tmp_path)
    assert run_appctl("db", "upgrade", env=doc_env, timeout=120).returncode == 0

    listed = run_appctl("task", "list", env=doc_env, timeout=120)
    assert (listed.returncode, listed.stdout) == (0, _console_output("appctl task list"))

    send = re.search(r"\$\(appctl task send (\w+) \"([^\"]+)\"\)", _block("console"))
    assert send
    with worker_process([APPCTL, "worker", "--loglevel=info", "-P", "solo"], doc_env, tmp_path / "worker.log"):
        sent = run_appctl("task", "send", send[1], send[2], env=doc_env, timeout=120)
        assert sent.returncode == 0, sent.stderr
        waited = run_appctl("result", "wait", sent.stdout.strip(), "--timeout", "90", env=doc_env, timeout=120)
    assert (waited.returncode, waited.stdout) == (0, _console_output('appctl result wait "$id"'))


def test_a_task_module_that_cannot_be_imported_is_a_configuration_error(env: dict[str, str]) -> None:
    listed = run_appctl("task", "list", env={**env, "APPCTL_TASK_MODULES": "project.users.tasks, no_such_module"})
    assert listed.returncode == 78
    assert listed.stdout == ""
    assert listed.stderr.splitlines() == [
        "Error: APPCTL_TASK_MODULES names 'no_such_module', which cannot be imported"
        " (hint: give module names, comma-separated, importable from sys.path (PYTHONPATH))"
    ]
