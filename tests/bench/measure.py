"""Measuring commands: interleaved runs and medians (the machine is noisy; only ratios are stable), peak memory."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

Command = Sequence[str]


def run_timed(command: Command, env: dict[str, str], cwd: Path | None = None, stdin: Path | None = None) -> float:
    """Wall seconds for one run of ``command`` (stdout discarded); a failing command fails the benchmark."""
    with open(stdin or os.devnull, "rb") as source:
        start = time.perf_counter()
        done = subprocess.run(
            command, env=env, cwd=cwd, stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    return elapsed


def interleaved_medians(runs: int, *measures: Callable[[], float], warmup: int = 1) -> list[float]:
    """Run each measure in turn ``runs`` times (after ``warmup`` rounds) and return each one's median."""
    samples: list[list[float]] = [[] for _ in measures]
    for round_number in range(warmup + runs):
        for index, measure in enumerate(measures):
            value = measure()
            if round_number >= warmup:
                samples[index].append(value)
    return [statistics.median(values) for values in samples]


def peak_rss_mb(command: Command, env: dict[str, str]) -> float:
    """The peak resident memory of one run of ``command``, in MiB (stdout discarded)."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise AssertionError(f"{' '.join(command)} failed: {process.stderr.read().decode() if process.stderr else ''}")
    return usage.ru_maxrss / 1024  # kilobytes on Linux


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (0.5: the median)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
