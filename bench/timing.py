"""Timing: methods run interleaved, after a warm-up whose result is checked first.

Every method is a callable of the round number (ingest methods take a fresh
batch per round; read methods ignore it). Round 0 is the warm-up: each
method's result is checked against the reference before any time counts.
The order of the methods rotates from round to round, so that none always
runs right after the same neighbour (caches, thermal drift, GC).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

Method = Callable[[int], Any]
Check = Callable[[str, Any], None]


def summary(times_ms: list[float]) -> dict:
    """median, min and max of the timed runs, in milliseconds."""
    return {
        "median": statistics.median(times_ms),
        "min": min(times_ms),
        "max": max(times_ms),
        "runs": len(times_ms),
    }


def interleave(
    methods: dict[str, Method], runs: int, check: Check | None = None, raw: bool = False
) -> dict:
    """{name: summary} of `runs` timed rounds after one checked warm-up round.

    raw: {name: [milliseconds of each timed round]} instead of summaries.
    """
    names = list(methods)
    for name in names:
        result = methods[name](0)
        if check is not None:
            check(name, result)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(1, runs + 1):
        shift = (r - 1) % max(len(names), 1)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            methods[name](r)
            times[name].append((time.perf_counter() - started) * 1000)
    if raw:
        return times
    return {name: summary(t) for name, t in times.items()}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def must_equal(reference: Any, what: str) -> Check:
    """A check that every method's warm-up result equals the reference."""

    def check(name: str, result: Any) -> None:
        if result != reference:
            raise AssertionError(f"{what}: {name}'s result differs from the kernel's")

    return check
