"""The suite itself depends on neither the clock nor the load: no clock read when tests are collected,
no assertion on wall time, and every subprocess hang detector generous.

A time read at collection (a module constant, a ``parametrize`` value, a default argument) goes stale
when the suite runs long; a timing assertion fails when the machine is loaded.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "in_seconds"}
TIMING_NAMES = {"elapsed", "duration", "took", "spent"}
SUBPROCESS_CALLS = {"run_appctl", "appctl", "run", "communicate", "check_output"}
SHORTEST_HANG_BOUND = 60  # seconds a subprocess may take on a loaded 2-core machine before it counts as hung


def suite_files() -> list[Path]:
    return sorted(path for path in TESTS.rglob("*.py") if "bench" not in path.parts)


def called_name(node: ast.Call) -> str:
    function = node.func
    return function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")


def clock_calls(node: ast.AST) -> Iterator[ast.Call]:
    for child in ast.walk(node):
        if isinstance(child, ast.Call) and called_name(child) in CLOCK_CALLS:
            yield child


def evaluated_at_collection(tree: ast.Module) -> Iterator[ast.AST]:
    """The expressions Python evaluates when the module is imported: module and class bodies,
    decorators (``parametrize``) and default arguments, but no function body."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        statement = pending.pop()
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from statement.decorator_list
            yield from statement.args.defaults
            yield from (default for default in statement.args.kw_defaults if default is not None)
        elif isinstance(statement, ast.ClassDef):
            yield from statement.decorator_list
            pending.extend(statement.body)
        else:
            yield statement


@pytest.mark.parametrize("path", suite_files(), ids=lambda path: str(path.relative_to(TESTS)))
def test_no_clock_is_read_when_tests_are_collected(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    found = [
        f"line {call.lineno}: {ast.unparse(call)}"
        for node in evaluated_at_collection(tree)
        for call in clock_calls(node)
    ]
    assert found == [], "read the clock in a fixture or in the test, when it runs"


@pytest.mark.parametrize("path", suite_files(), ids=lambda path: str(path.relative_to(TESTS)))
def test_no_assertion_on_wall_time(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assert):
            continue
        names = {child.id for child in ast.walk(node.test) if isinstance(child, ast.Name)}
        subtracted_clock = any(
            isinstance(child, ast.BinOp) and isinstance(child.op, ast.Sub) and any(clock_calls(child))
            for child in ast.walk(node.test)
        )
        if names & TIMING_NAMES or subtracted_clock:
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    assert found == [], "assert the behaviour (exit code, message, that it ends), never how long it took"


def module_numbers(tree: ast.Module) -> dict[str, float]:
    """The module's ``NAME = <number>`` constants (``SLACK = 2.0``)."""
    numbers = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            value = number(statement.value, {})
            if isinstance(statement.targets[0], ast.Name) and value is not None:
                numbers[statement.targets[0].id] = value
    return numbers


def number(node: ast.expr, names: dict[str, float]) -> float | None:
    """The value of an arithmetic expression of numbers and ``names`` (``15 + SLACK``), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
        left, right = number(node.left, names), number(node.right, names)
        if left is not None and right is not None:
            return left + right if isinstance(node.op, ast.Add) else left * right
    return None


@pytest.mark.parametrize("path", suite_files(), ids=lambda path: str(path.relative_to(TESTS)))
def test_subprocess_hang_detectors_are_generous(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    names, found = module_numbers(tree), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and called_name(node) in SUBPROCESS_CALLS:
            for keyword in node.keywords:
                seconds = number(keyword.value, names)
                if keyword.arg == "timeout" and seconds is not None and seconds < SHORTEST_HANG_BOUND:
                    found.append(f"line {node.lineno}: {ast.unparse(node)}")
    assert found == [], f"a subprocess timeout detects hangs: at least {SHORTEST_HANG_BOUND}s (tests.conftest.HANG)"
