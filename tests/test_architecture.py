"""The layers, read from the import statements (ast): cli → services in project/ → history, send, broker."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Heavy libraries a command module may import only inside a function (``--help`` stays light).
HEAVY = ("sqlalchemy", "flask_sqlalchemy", "flask_migrate", "celery", "kombu", "redis", "psycopg", "flask")
# What cli/ may call in project/: the services and the errors, never their machinery.
SERVICES = (
    "project.create_app",  # the factories and the end of an app's connections: cli/state.py, the app loader
    "project.create_publisher_app",
    "project.create_database_app",
    "project.extensions.connections_released",
    "project.config",
    "project.errors",
    "project.failures",
    "project.interrupts",  # holding Ctrl-C while a chunk is acted on and printed, as the services hold it
    "project.json_text",  # strict JSON: a job's inf or nan result written as the history keeps it
    "project.readable",  # the characters that draw nothing: escaped wherever appctl prints text
    "project.migrations",
    "project.urls",
    "project.jobs.health",
    "project.jobs.history.follow",
    "project.jobs.history.read",
    "project.jobs.history.select",  # JobFilter and the selection a bulk action counts, then acts on
    "project.jobs.history.prune",
    "project.jobs.publisher",  # SentJob, the type of what a send returns
    "project.jobs.registry",
    "project.jobs.purge",
    "project.jobs.queues",
    "project.jobs.results",
    "project.jobs.retry",
    "project.jobs.run_now",
    "project.jobs.revoke",
    "project.jobs.send",
    "project.schedules.timing",  # wall times by the schedules' daylight-saving rules: --eta, --since, --until
    "project.jobs.unique",
    "project.jobs.watch",
    "project.jobs.worker",
    "project.schedules.service",
    "project.schedules.beat",  # run_beat: Celery beat with the app's scheduler, as jobs.worker runs a worker
    "project.users",
)
# (importer prefix, imported prefixes it must not reach): lower layers never import upper ones,
# and the helpers of one layer do not call each other sideways.
FORBIDDEN = [
    ("project", ("cli",)),
    ("project.broker", ("project.jobs", "project.users", "project.celery_internals")),
    ("project.celery_internals", ("project.jobs", "project.users", "project.broker")),
    (
        "project.jobs.history",
        ("project.jobs.send", "project.jobs.publisher", "project.jobs.job_file", "project.jobs.registry"),
    ),
    ("project.jobs.job_file", ("project.jobs.registry", "project.jobs.send", "project.jobs.history")),
    ("project.jobs.registry", ("project.jobs.job_file", "project.jobs.publisher", "project.jobs.send")),
    (
        "project.jobs.publisher",
        ("project.jobs.send", "project.jobs.job_file", "project.jobs.registry", "project.jobs.history"),
    ),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


def imports(path: Path, top_level_only: bool = False) -> Iterator[str]:
    """The modules ``path`` imports (``from a import b`` gives ``a`` and ``a.b``); with ``top_level_only``
    the imports run when the module is imported (not those in functions or under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_rules_see_every_package() -> None:
    names = {module_name(path) for path in modules("project")}
    for importer, _ in FORBIDDEN[1:]:
        assert any(within(name, importer) for name in names), importer


@pytest.mark.parametrize(("importer", "forbidden"), FORBIDDEN, ids=[rule[0] for rule in FORBIDDEN])
def test_no_module_imports_a_layer_above_it_or_beside_it(importer: str, forbidden: tuple[str, ...]) -> None:
    wrong = [
        f"{module_name(path)} imports {name}"
        for path in modules("project")
        if within(module_name(path), importer)
        for name in imports(path)
        if any(within(name, prefix) for prefix in forbidden)
    ]
    assert wrong == []


def test_cli_imports_no_heavy_library_at_module_level() -> None:
    wrong = [
        f"{module_name(path)} imports {name}"
        for path in modules("cli")
        for name in imports(path, top_level_only=True)
        if any(within(name, library) for library in HEAVY)
    ]
    assert wrong == []


def test_cli_calls_only_the_services_of_project() -> None:
    wrong = [
        f"{module_name(path)} imports {name}"
        for path in modules("cli")
        for name in imports(path)
        if within(name, "project")
        and name not in ("project", "project.extensions")
        and not any(within(name, s) for s in SERVICES)
    ]
    assert wrong == []


# Strings in project/ that may name a command line: the argv handed to Celery's own worker command.
COMMAND_LINE_STRINGS = {  # Celery's own command lines, built to run it: said to Celery, not to a user
    ("project/jobs/worker.py", "--help"),
    ("project/jobs/worker.py", "--beat"),
    ("project/jobs/worker.py", "--detach"),
    ("project/schedules/beat.py", "--loglevel"),
    ("project/jobs/worker.py", "--pidfile"),  # read from the worker's own arguments, to check its folder
    ("project/jobs/worker.py", "--pidfile="),
    ("project/jobs/worker.py", "--hostname"),  # the worker's names and queues, checked to be UTF-8
    ("project/jobs/worker.py", "--queues"),
    ("project/jobs/worker.py", "--exclude-queues"),
}


def service_strings(path: Path) -> Iterator[tuple[int, str]]:
    """The string constants of a module that are not docstrings: what it may say to a user."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_services_speak_of_the_domain_and_leave_commands_to_the_cli() -> None:
    """A message from project/ names no appctl command or option: the CLI adds those (REMEDY_HINTS)."""
    command_line = re.compile(r"\bappctl [a-z]|(?<![\w-])--[a-z]")
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in modules("project")
        for line, text in service_strings(path)
        if command_line.search(text) and (str(path.relative_to(ROOT)), text) not in COMMAND_LINE_STRINGS
    ]
    assert found == []
