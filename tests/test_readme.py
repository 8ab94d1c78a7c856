"""The README is short: what appctl is, the two commands, a tour, the contract, and links to the manual in docs/."""

from __future__ import annotations

import re
from pathlib import Path

from cli.exit_codes import ExitStatus

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_quick_start_is_the_two_commands_first() -> None:
    first_block = README.split("```sh\n", 1)[1].split("```", 1)[0]
    assert [line.split()[:2] for line in first_block.splitlines()] == [["make", "run"], ["make", "test"]]
    assert README.index("## Quick start") < README.index("## A tour in five commands") < README.index("## The contract")


def test_the_tour_is_five_commands() -> None:
    tour = README.split("## A tour in five commands", 1)[1].split("\n## ", 1)[0]
    assert len(re.findall(r"^\$ .*appctl ", tour, flags=re.MULTILINE)) == 5


def test_every_exit_code_has_a_row() -> None:
    table = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = {int(code) for code in re.findall(r"^\| (\d+) \|", table, flags=re.MULTILINE)}
    assert rows == {int(status) for status in ExitStatus}


def test_the_readme_links_every_page_of_the_manual() -> None:
    pages = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")} | {"CONTRIBUTING.md"}
    assert pages <= set(re.findall(r"\]\(([^)#]+)[^)]*\)", README))


def test_the_readme_stays_short() -> None:
    assert len(README.splitlines()) <= 150
