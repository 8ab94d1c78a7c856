"""docs/ is the manual: it must agree with --help, the settings the code reads, the benchmark results and itself."""

from __future__ import annotations

import ast
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from cli import cli
from project.config import SERVICE_URL_SETTINGS
from tests.bench.report import PERFORMANCE, RESULTS, render_performance

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
COMMANDS = (DOCS / "commands.md").read_text()
MANUAL = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted(DOCS.glob("*.md"))]
HEADING = re.compile(r"^#{1,6} (.+)$", flags=re.MULTILINE)


def command_tree() -> Iterator[tuple[str, click.Command, click.Context]]:
    """Every command and group, as ``("appctl task send", command, context)``; LazyGroup loads each by name."""

    def walk(command: click.Command, ctx: click.Context) -> Iterator[tuple[str, click.Command, click.Context]]:
        yield ctx.command_path, command, ctx
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                yield from walk(sub, click.Context(sub, info_name=name, parent=ctx, **sub.context_settings))

    yield from walk(cli, click.Context(cli, info_name="appctl", **cli.context_settings))


TREE = {path: (command, ctx) for path, command, ctx in command_tree()}


def documented_sections() -> dict[str, str]:
    """commands.md's command sections by path: the text under each `` `appctl …` `` heading."""
    sections: dict[str, str] = {}
    matches = list(HEADING.finditer(COMMANDS))
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        title = re.fullmatch(r"`(appctl[^`]*)`", match[1].split(" ", 1)[1] if match[1].startswith("#") else match[1])
        if title:
            assert title[1] not in sections, f"{title[1]} has two sections"
            sections[title[1]] = COMMANDS[match.end() : following.start() if following else len(COMMANDS)]
    return sections


SECTIONS = documented_sections()


def help_flags(command: click.Command, ctx: click.Context) -> set[str]:
    """The option flags ``--help`` lists for ``command``, long and short, without -h/--help itself."""
    help_names = set(ctx.help_option_names)
    flags = {
        flag
        for param in command.get_params(ctx)
        if isinstance(param, click.Option) and not param.hidden
        for flag in (*param.opts, *param.secondary_opts)
    }
    return flags - help_names


def documented_flags(section: str) -> set[str]:
    """The flags of a section's ``Options:`` list: the first code span of each item, ``-k, --kwarg KEY=VALUE``."""
    if "\nOptions:\n" not in section:
        return set()
    items = section.split("\nOptions:\n", 1)[1].strip("\n").split("\n\n", 1)[0]
    flags = set()
    for item in items.splitlines():
        span = re.match(r"- `([^`]+)`", item)
        assert span, f"not an option item: {item!r}"
        flags.update(part.split()[0] for part in span[1].split(", "))
    return flags


def test_every_command_has_a_section_and_every_section_a_command() -> None:
    assert sorted(SECTIONS) == sorted(TREE)


@pytest.mark.parametrize("path", sorted(TREE))
def test_each_section_has_the_usage_and_the_options_of_help(path: str) -> None:
    command, ctx = TREE[path]
    section = SECTIONS.get(path, "")
    usage = " ".join([path, *command.collect_usage_pieces(ctx)])
    assert f"\nUsage: `{usage}`\n" in section
    assert documented_flags(section) == help_flags(command, ctx)


def test_every_command_but_the_worker_takes_dash_h() -> None:
    for path, (_command, ctx) in TREE.items():
        assert ctx.help_option_names == ([] if path == "appctl worker" else ["-h", "--help"]), path


def _variables_read_by(node: ast.AST) -> set[str]:
    """The variable names ``node`` reads, when it is an environment read."""
    if isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
        return (
            {node.slice.value} if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str) else set()
        )
    if not isinstance(node, ast.Call):
        return set()
    envvars = {kw.value.value for kw in node.keywords if kw.arg == "envvar" and isinstance(kw.value, ast.Constant)}
    reads_environ = any(word in ast.unparse(node.func) for word in ("environ", "getenv")) or any(
        "environ" in ast.unparse(arg) for arg in node.args[:1]
    )
    literals = {arg.value for arg in node.args if isinstance(arg, ast.Constant)} if reads_environ else set()
    return {name for name in envvars | literals if isinstance(name, str) and name.isupper()}


def environment_variables_read() -> set[str]:
    """Every environment variable cli/, project/ and app.py read: ``environ.get("X")``, ``environ["X"]``,
    ``seconds_setting(environ, "X", …)`` and the like, ``os.getenv("X")``, and Click's ``envvar="X"``."""
    files = [ROOT / "app.py", *(ROOT / "cli").rglob("*.py"), *(ROOT / "project").rglob("*.py")]
    names = {
        name
        for source in files
        for node in ast.walk(ast.parse(source.read_text()))
        for name in _variables_read_by(node)
    }
    return names | set(SERVICE_URL_SETTINGS)  # read by name from that tuple


def test_the_scan_finds_the_settings_it_must() -> None:
    assert {
        "APPCTL_DATA_DIR",
        "APPCTL_DEBUG",
        "APPCTL_MIN_PASSWORD_LENGTH",  # read with count_setting(environ, …)
        "APPCTL_SOCKET_TIMEOUT",
        "NO_COLOR",
        "FLASK_CONFIG",
    } <= environment_variables_read()


def test_every_environment_variable_the_code_reads_is_in_the_configuration_table() -> None:
    table = (DOCS / "configuration.md").read_text()
    missing = {name for name in environment_variables_read() if f"| `{name}` |" not in table}
    assert not missing


def test_performance_page_is_what_the_benchmark_results_render() -> None:
    assert PERFORMANCE.read_text() == render_performance(json.loads(RESULTS.read_text()))


def test_operations_lists_the_bounds_and_at_least_once_delivery() -> None:
    section = (DOCS / "operations.md").read_text().split("## Failure behaviour", 1)[1]
    for promise in (
        "within 5 s",
        "within 15 s",
        "at-least-once",
        "may run more than once",
        "CELERY_VISIBILITY_TIMEOUT",
    ):
        assert promise in section


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", MANUAL, ids=lambda page: page.name)
def test_every_link_leads_to_a_page_and_heading_that_exist(page: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        file, _, fragment = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        assert linked.exists(), target
        if fragment:
            assert fragment in {anchor(heading) for heading in HEADING.findall(linked.read_text())}, target


def examples(page: Path) -> Iterator[str]:
    """The shell command lines of ``page``: each ``$ …`` line of a console block, each line of a sh block."""
    for language, block in re.findall(r"```(console|sh)\n(.*?)```", page.read_text(), flags=re.DOTALL):
        for line in block.splitlines():
            if language == "sh" and not line.lstrip().startswith("#"):
                yield line.split(" #", 1)[0]
            elif line.startswith("$ "):
                yield line[2:]


def invocations(line: str) -> Iterator[list[str]]:
    """The arguments of each ``appctl`` in a shell line (pipes, ``$(…)``, ``xargs`` and paths included)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars="();<>|&")
    lexer.wordchars += "$*%@:=.,/~-+[]{}"
    tokens = list(lexer)
    for i, token in enumerate(tokens):
        if token == "appctl" or token.endswith("/appctl"):
            args = []
            for arg in tokens[i + 1 :]:
                if arg and all(char in "();<>|&" for char in arg):
                    break
                args.append(arg)
            yield args


def check_invocation(args: list[str]) -> None:
    """Parse ``args`` as appctl would, running nothing: unknown commands and options, extra arguments fail.

    A value the example leaves to the reader (``"$id"``, a file that is not here) or a missing argument
    (``xargs appctl task revoke``) is a bad parameter only, which is fine.
    """
    command: click.Command = cli
    parent: click.Context | None = None
    name = "appctl"
    while args:  # a bare `appctl` (shell completion) shows the help
        try:
            ctx = command.make_context(name, list(args), parent=parent)
        except (click.BadParameter, click.exceptions.Exit):  # Exit: --help, --version
            return
        if not isinstance(command, click.Group):
            return
        rest = [*ctx._protected_args, *ctx.args]
        sub = command.get_command(ctx, rest[0])
        assert sub is not None, f"no command {rest[0]!r} in {ctx.command_path}"
        command, parent, name, args = sub, ctx, rest[0], rest[1:]


@pytest.mark.parametrize("page", MANUAL, ids=lambda page: page.name)
def test_every_appctl_example_is_a_valid_invocation(page: Path) -> None:
    checked = 0
    for line in examples(page):
        for args in invocations(line):
            try:
                check_invocation(args)
            except click.UsageError as exc:
                pytest.fail(f"{page.name}: `{line}`: {exc.format_message()}")
            checked += 1
    assert checked or page.name in {"CONTRIBUTING.md", "configuration.md", "operations.md", "performance.md"}
