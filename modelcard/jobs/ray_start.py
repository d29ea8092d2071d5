"""Connecting to Ray, and getting its workers ready, before the Ray engine runs.

Starting a local Ray takes seconds (its processes, the API server, the raylet joining),
so the job starts it first and cuts the input and pins the card in threads meanwhile.
Once connected, it sends the Ray workers that will encode one :func:`preload` task
each, so that they import what a task needs and load the card while the driver is
still cutting the input, not after.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
from typing import TYPE_CHECKING

import ray

from ..errors import RayJobError

if TYPE_CHECKING:
    from ..card import ModelCard

__all__ = ["RayJobError", "connect", "preload", "shutdown", "task_cpus"]


def connect() -> bool:
    """Connect to RAY_ADDRESS or start a local Ray; True when this call started it.

    A Ray this process already started is used as it is.
    """
    if ray.is_initialized():
        return False
    address = os.environ.get("RAY_ADDRESS")
    try:
        if address:
            ray.init(log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False)
    except (ConnectionError, ray.exceptions.RayError) as exc:
        where = f"the Ray cluster at RAY_ADDRESS={address}" if address else "a local Ray"
        fix = (
            "Check that the cluster is up (ray status) and reachable from here, or unset "
            "RAY_ADDRESS to run on a local Ray."
            if address
            else "See the Ray logs under /tmp/ray, or run with --engine local."
        )
        raise RayJobError(f"Could not start or reach {where}: {exc}. {fix}") from exc
    return True


def task_cpus(workers: int | None) -> tuple[int, float, int]:
    """How many tasks run at a time (``workers``, default: the cluster's CPUs), the CPUs
    each asks for (one, or a share when there are more tasks than CPUs), and the
    cluster's CPUs."""
    cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
    count = workers or max(1, cpus)
    return count, min(1.0, cpus / count) if cpus else 1.0, cpus


def _preload(card: bytes) -> bool:
    from .worker import preload_tokenizer

    # What every task imports next: it encodes into numpy arrays and writes Parquet.
    for name in ("pyarrow.parquet", "numpy"):
        importlib.import_module(name)
    return preload_tokenizer(card)


def preload(card: ModelCard, *, workers: int | None) -> None:
    """Send one task per encode slot that loads ``card`` in a Ray worker, for the job's
    tasks on that worker to reuse. Nothing waits for them: a failed preload leaves the
    first task to load the card, and to report why it cannot."""
    count, share, _ = task_cpus(workers)
    task = ray.remote(num_cpus=share, max_retries=0)(_preload)
    payload = pickle.dumps(card)
    for _ in range(count):
        task.remote(payload)


def shutdown() -> None:
    """Stop the Ray :func:`connect` started.

    Ray stops its processes one by one, the GCS before its autoscaler monitor; the
    monitor, sent SIGTERM, then tries to report to the stopped GCS until Ray kills it a
    second later (1.0 of the 1.4 s ``ray.shutdown`` took here). A Ray this job started
    has nothing for the monitor to scale, so it is killed first. That needs Ray's private
    node handle; without it (another Ray version) Ray stops as it always does.
    """
    with contextlib.suppress(Exception):
        node = ray._private.worker._global_node
        if node is not None:
            node._kill_process_type("monitor", allow_graceful=False, check_alive=False, wait=True)
    ray.shutdown()
