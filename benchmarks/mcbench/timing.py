"""Interleaved repetitions and robust summaries.

Contenders take turns within each repetition, starting one later each time, so machine
drift (other jobs, frequency changes) lands on all of them alike. Ratios are taken per
repetition, on the same texts, and summarised by their median.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from time import process_time_ns
from typing import Any


@dataclass
class Sample:
    """One contender's work in one repetition."""

    ns: int
    nbytes: int = 0
    ntokens: int = 0
    latencies_ns: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    cpu_ns: int = 0

    @property
    def mb_per_s(self) -> float:
        return self.nbytes * 1e3 / self.ns if self.ns else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.ntokens * 1e9 / self.ns if self.ns else 0.0

    @property
    def ns_per_token(self) -> float:
        return self.ns / self.ntokens if self.ntokens else 0.0


def interleaved(
    names: Sequence[str], reps: int, run: Callable[[str, int], Sample]
) -> dict[str, list[Sample]]:
    """Run ``run(name, rep)`` for every rep, rotating which contender goes first.

    Each sample also gets the process CPU time of its run: unlike the wall clock, it does
    not count the time other processes held the CPU, so its ratios are a cross-check
    that holds on a busy machine (for multi-threaded calls it counts every thread's work).
    """
    out: dict[str, list[Sample]] = {name: [] for name in names}
    order = list(names)
    cpu = process_time_ns
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()  # a collection pause would land on whichever contender triggered it
    try:
        for rep in range(reps):
            k = rep % len(order) if order else 0
            for name in order[k:] + order[:k]:
                c0 = cpu()
                sample = run(name, rep)
                sample.cpu_ns = cpu() - c0
                out[name].append(sample)
    finally:
        if enabled:
            gc.enable()
    return out


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile with linear interpolation (q in [0, 1])."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median and interquartile range of ``values``."""
    if not values:
        return {"median": float("nan"), "p25": float("nan"), "p75": float("nan"), "n": 0}
    return {
        "median": statistics.median(values),
        "p25": quantile(values, 0.25),
        "p75": quantile(values, 0.75),
        "n": len(values),
    }


def per_rep_ratios(
    num: Sequence[Sample], den: Sequence[Sample], lower_is_better: bool, clock: str = "ns"
) -> list[float]:
    """Per repetition, how ``num`` compares with ``den`` on the same work.

    A throughput ratio (``den`` time over ``num`` time) for throughput metrics, a cost
    ratio (``num`` time over ``den`` time) for costs such as ns per token. ``clock`` is
    ``"ns"`` (wall) or ``"cpu_ns"`` (process CPU time).
    """
    out = []
    for a, b in zip(num, den, strict=False):
        x, y = getattr(a, clock), getattr(b, clock)
        if x and y:
            out.append(x / y if lower_is_better else y / x)
    return out
