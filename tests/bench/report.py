"""The benchmark table: printed at the end of `make bench` and saved to tests/bench/results.json."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results.json")


@dataclass
class Row:
    """One benchmark: appctl's figure, the reference's, their ratio and whether the target is met."""

    benchmark: str
    appctl: str
    reference: str
    ratio: str
    target: str
    met: bool
    figures: dict[str, Any] = field(default_factory=dict)


def times(ratio: float) -> str:
    """A ratio as the table shows it."""
    return f"{ratio:.2f}×"


@dataclass
class Report:
    """The rows measured in this run, in the issue's order."""

    rows: dict[int, Row] = field(default_factory=dict)

    def add(self, position: int, row: Row) -> None:
        self.rows[position] = row

    def table(self) -> str:
        """The rows as a Markdown table."""
        lines = [
            "| benchmark | appctl | reference (same run) | ratio | target | met |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for _, row in sorted(self.rows.items()):
            met = "yes" if row.met else "**no**"
            lines.append(f"| {row.benchmark} | {row.appctl} | {row.reference} | {row.ratio} | {row.target} | {met} |")
        return "\n".join(lines)

    def save(self) -> None:
        """Write every figure, with what the machine was doing, to results.json."""
        data = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
            },
            "rows": [asdict(row) for _, row in sorted(self.rows.items())],
        }
        RESULTS.write_text(json.dumps(data, indent=2) + "\n")
