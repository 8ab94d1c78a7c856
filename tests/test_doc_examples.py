"""The manual's console examples run for real: page by page, in order, on the embedded default with a worker.

Each ``$ command`` of a ``console`` block runs in bash; the lines under it are what it prints (``stderr: ``
marks a line of stderr, a trailing ``(exit N)`` its exit status, 0 otherwise). What differs from run to run
is matched, not ignored: a job id in the manual stands for the id the run printed at the same place (and
later commands get that id), times are any ISO 8601 time, the data directory is the default one, the
host is ``vm``, and these may be any number: a worker's pid (``"pid": N`` in JSON), the age in seconds of a
queue's oldest job (``oldest_age`` in ``queue list``), and the active jobs ``status`` shows for a worker
(they come from its last heartbeat, up to one interval old, which may have caught the last job running).

``$ cat FILE`` writes the file it shows; ``$ appctl worker &`` is the page's worker; ``VAR=…`` alone keeps
the variable for the next commands. Commands read no stdin unless the manual pipes or redirects it. A
page whose first command is ``appctl db upgrade`` starts from an empty database, the others from a
migrated one. A block that cannot run here says why in an HTML comment just above it:
``<!-- not run: reason -->``.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import HANG
from tests.processes import worker_command, worker_process

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *(ROOT / "docs" / name for name in ("commands.md", "scripting.md", "bulk.md"))]
BLOCK = re.compile(r"(<!-- not run: [^>]+-->\n)?```console\n(.*?)```", flags=re.DOTALL)
EXIT = re.compile(r"\s+\(exit (\d+)\)$")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?")
ASSIGNED = re.compile(r"""^(\w+)=(\$\(.*\)|"[^"]*"|'[^']*'|\S*)$""")  # a variable set, not one command's env
PID = re.compile(r'"pid": \d+')
QUEUE_AGE = re.compile(r'(?<="oldest_age": )\d+|^([^\t]+\t\d+\t)\d+(?=\t\d+\t\d+$)')  # queue list: json, plain
ACTIVE = re.compile(r'\(\d+ active\)|"active": \[[^]]*\]')
DEFAULT_DATA_DIR = "/home/you/.local/share/appctl"


@dataclass
class Step:
    """One ``$`` line and what the manual says it prints."""

    command: str
    line: int
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    status: int = 0


def steps(page: Path) -> Iterator[Step]:
    """The steps of the page's console blocks that run, in order."""
    text = page.read_text()
    for block in BLOCK.finditer(text):
        if block.group(1):
            continue
        first_line = text[: block.start(2)].count("\n") + 1
        step: Step | None = None
        for offset, line in enumerate(block.group(2).splitlines()):
            if line.startswith("$ "):
                if step:
                    yield step
                step = Step(line[2:], first_line + offset)
                continue
            assert step is not None, f"{page.name}:{first_line + offset}: output before any command"
            status = EXIT.search(line)
            if status:
                step.status, line = int(status.group(1)), line[: status.start()]
            if line.startswith("stderr: "):
                step.stderr.append(line.removeprefix("stderr: "))
            else:
                step.stdout.append(line)
        if step:
            yield step


class Session:
    """A shell session of the manual's reader: its directory, its variables and the ids it has seen."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env
        self.ids: dict[str, str] = {}  # id in the manual -> id of this run
        self.variables = workdir / ".variables.sh"
        self.variables.write_text("")

    def run(self, step: Step) -> tuple[list[str], list[str], int]:
        command = step.command
        for documented, actual in self.ids.items():
            command = command.replace(documented, actual)
        assigned = ASSIGNED.match(command)
        save = ""
        if assigned:  # keep the variable for the next commands, and the command's status
            save = f'; __status=$?; declare -p {assigned.group(1)} >> "{self.variables}"; exit $__status'
        script = f'source "{self.variables}"; {command}{save}'
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=HANG,
        )
        return done.stdout.splitlines(), done.stderr.splitlines(), done.returncode

    def normalised(self, actual: list[str], documented: list[str], command: str) -> list[str]:
        """``actual`` in the manual's terms: its ids mapped to the manual's, times, paths and host made alike."""
        host, data_dir = socket.gethostname(), self.env["APPCTL_DATA_DIR"]
        lines = []
        for index, line in enumerate(actual):
            line = line.replace(data_dir, DEFAULT_DATA_DIR).replace(f"@{host}", "@vm")
            expected = documented[index] if index < len(documented) else ""
            for doc_id, run_id in zip(UUID.findall(expected), UUID.findall(line), strict=False):
                self.ids.setdefault(doc_id, run_id)
            for doc_id, run_id in self.ids.items():
                line = line.replace(run_id, doc_id)
            lines.append(varying(line, command))
        return lines


def varying(line: str, command: str) -> str:
    """``line`` of ``command``'s output with what varies from run to run (times, pids, ages) made alike."""
    line = PID.sub('"pid": PID', TIME.sub("TIME", line))
    if '"check": "workers"' in line:
        line = ACTIVE.sub("ACTIVE", line)
    if command.startswith("appctl queue list"):
        line = QUEUE_AGE.sub(lambda age: f"{age.group(1) or ''}AGE", line)
    return line


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_console_example_prints_what_the_manual_says(page: Path, env: dict[str, str], tmp_path: Path) -> None:
    workdir = tmp_path / "reader"
    workdir.mkdir()
    env = {**env, "PATH": f"{Path(sys.executable).parent}:{env['PATH']}", "APPCTL_DIVIDE_DELAY": "0"}
    env.pop("APPCTL_QUEUE")  # the manual shows the default queue; the data directory keeps the run apart
    session, wrong = Session(workdir, env), []
    if next(steps(page)).command != "appctl db upgrade":  # a page that starts with it shows it migrating
        subprocess.run(["appctl", "db", "upgrade"], env=env, capture_output=True, check=True, timeout=HANG)
    with worker_process(worker_command("celery", concurrency=1), env, tmp_path / "worker.log"):
        for step in steps(page):
            if step.command.endswith("&"):
                continue
            if step.command.startswith("cat ") and step.stdout and not (workdir / step.command[4:]).exists():
                (workdir / step.command[4:]).write_text("\n".join(step.stdout) + "\n")
                continue
            stdout, stderr, status = session.run(step)
            got = tuple(
                session.normalised(out, doc, step.command)
                for out, doc in ((stdout, step.stdout), (stderr, step.stderr))
            )
            want = tuple([varying(line, step.command) for line in doc] for doc in (step.stdout, step.stderr))
            if (*got, status) != (*want, step.status):
                manual = (*want, step.status)
                wrong.append(
                    f"{page.name}:{step.line}: $ {step.command}\n  printed {(*got, status)}\n  manual  {manual}"
                )
    assert not wrong, "\n".join(wrong)
