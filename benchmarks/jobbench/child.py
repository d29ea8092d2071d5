"""Run one ``tokenize`` job in this (fresh) process and print what it measured as JSON.

    python benchmarks/jobbench/child.py '{"engine": "local", "workers": 2, ...}'

Besides the job's wall time it records when the first rows came back (start-up plus one
task), the CPU of this process and of its children (the local engine's workers, reaped
when the job ends; for a Ray it starts, the Ray processes, sampled while they run), and,
on Ray, how long ``ray.init``, the driver's card load (or pin) and ``ray.shutdown`` took
and, for an engine that runs a Ray Data dataset, its per-operator statistics. A Ray job's
times include importing Ray, which the job does first. Only the public API and a few
wrapped functions are used, so the same script measures an older checkout
(``PYTHONPATH=/path/to/checkout``).
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any


class CpuSampler:
    """The CPU time the descendants of process ``root`` spend from now until ``stop()``.

    Processes are sampled while they run (every 0.2 s), so one that ends loses at most
    its last 0.2 s; those already running count only what they spend from now on.
    """

    def __init__(self, root: int | None = None) -> None:
        import psutil

        self._root = psutil.Process(root)
        self._start: dict[int, float] = {}
        self._seen: dict[int, tuple[str, float]] = {}
        self._sample(into=self._start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self, into: dict[int, Any]) -> None:
        import psutil

        try:
            children = self._root.children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            try:
                with child.oneshot():
                    times = child.cpu_times()
                    name = child.name()
            except psutil.Error:
                continue
            cpu = times.user + times.system
            into[child.pid] = cpu if into is self._start else (name, cpu)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._sample(into=self._seen)

    def stop(self) -> dict[str, list[float]]:
        """By process name: CPU seconds, and how many such processes ran."""
        self._stop.set()
        self._thread.join()
        self._sample(into=self._seen)
        by_name: dict[str, list[float]] = {}
        for pid, (name, cpu) in self._seen.items():
            entry = by_name.setdefault(name, [0.0, 0])
            entry[0] += cpu - self._start.get(pid, 0.0)
            entry[1] += 1
        return by_name


def _timed(owner: Any, name: str, log: list[tuple[str, float, float]], label: str) -> None:
    """Wrap ``owner.name`` so each call's start and end land in ``log``."""
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            log.append((label, start, time.perf_counter()))

    setattr(owner, name, wrapper)


_STAT = re.compile(r"\* Remote (wall|cpu) time: .*?, ([\d.]+)(us|ms|s) total")
_OPERATOR = re.compile(r"^Operator \d+ (.+?): (\d+) tasks executed, (\d+) blocks produced", re.M)


def _seconds(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


def parse_ray_stats(text: str) -> list[dict[str, Any]]:
    """Per operator: tasks, blocks, remote wall and CPU seconds, from ``Dataset.stats()``."""
    operators = []
    parts = _OPERATOR.split(text)
    # parts: [preamble, name, tasks, blocks, body, name, tasks, blocks, body, ...]
    for i in range(1, len(parts) - 3, 4):
        name, tasks, blocks, body = parts[i : i + 4]
        entry: dict[str, Any] = {"operator": name, "tasks": int(tasks), "blocks": int(blocks)}
        for kind, value, unit in _STAT.findall(body):
            entry[f"remote_{kind}_seconds"] = _seconds(value, unit)
        operators.append(entry)
    return operators


def _wrap_ray_data(stats: list[str]) -> None:
    """Keep Ray Data's statistics of an engine that runs a dataset (older checkouts),
    without importing Ray Data here: the job imports it when, and if, it needs it."""
    from modelcard.jobs import job

    original = job.import_ray_engine

    def import_ray_engine() -> Any:
        module = original()
        data = sys.modules.get("ray.data")
        if data is not None:
            # It ended its dataset with write_parquet (oldest) or iter_batches.
            write, iterate = data.Dataset.write_parquet, data.Dataset.iter_batches

            def write_parquet(self: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    return write(self, *args, **kwargs)
                finally:
                    stats.append(self.stats())

            def iter_batches(self: Any, *args: Any, **kwargs: Any) -> Any:
                yield from iterate(self, *args, **kwargs)
                stats.append(self.stats())

            data.Dataset.write_parquet = write_parquet
            data.Dataset.iter_batches = iter_batches
        return module

    job.import_ray_engine = import_ray_engine  # type: ignore[attr-defined]


def run(spec: dict[str, Any]) -> dict[str, Any]:
    from modelcard import ModelCard
    from modelcard.jobs import JobSettings, progress as progress_module, tokenize

    events: list[tuple[str, float, float]] = []
    first: list[float] = []
    original_update = progress_module.Progress.update

    def update(self: Any, rows: int, tokens: int) -> None:
        if tokens and not first:
            first.append(time.perf_counter())
        original_update(self, rows, tokens)

    progress_module.Progress.update = update  # type: ignore[method-assign]
    _timed(ModelCard, "load", events, "driver_card_load")
    from modelcard import loader

    if hasattr(loader, "pin_card"):  # the Ray driver pins the card without loading it
        _timed(loader, "pin_card", events, "driver_card_pin")
    stats: list[str] = []
    sampler = None
    before = os.times()
    started = time.perf_counter()
    if spec["engine"] == "ray":
        import ray  # the job imports it first thing: timed with it

        _timed(ray, "init", events, "ray_init")
        _timed(ray, "shutdown", events, "ray_shutdown")
        _wrap_ray_data(stats)
        if not os.environ.get("RAY_ADDRESS"):
            sampler = CpuSampler()
    card = ModelCard(model=spec["model"], tokenizer=spec["tokenizer"])
    settings = JobSettings(
        input=Path(spec["input"]),
        output=Path(spec["output"]),
        engine=spec["engine"],
        workers=spec["workers"],
        progress=False,
    )
    manifest = tokenize(card, settings)
    wall = time.perf_counter() - started
    after = os.times()
    result: dict[str, Any] = {
        "wall_seconds": wall,
        "first_rows_seconds": first[0] - started if first else None,
        "rows": manifest["rows"],
        "tokens": manifest["tokens"],
        "backend": manifest["backend"],
        "driver_cpu_seconds": (after.user - before.user) + (after.system - before.system),
        "children_cpu_seconds": (after.children_user - before.children_user)
        + (after.children_system - before.children_system),
        "events": [
            {"name": name, "start": round(s - started, 3), "seconds": round(e - s, 3)}
            for name, s, e in events
            if s >= started
        ],
    }
    if sampler is not None:
        by_name = sampler.stop()
        result["ray_processes"] = {
            name: {"cpu_seconds": round(cpu, 3), "count": count}
            for name, (cpu, count) in sorted(by_name.items())
        }
        result["ray_cpu_seconds"] = sum(cpu for cpu, _ in by_name.values())
    if stats:
        result["ray_data"] = parse_ray_stats(stats[0])
    return result


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))))
