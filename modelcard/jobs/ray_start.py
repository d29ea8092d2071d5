"""Connecting to Ray, apart from the Ray engine: it needs only ``ray``, not Ray Data.

Starting a local Ray takes seconds (its processes, the API server, the raylet joining),
so the job starts it first and imports Ray Data, cuts the input and loads the card in
threads meanwhile.
"""

from __future__ import annotations

import os

import ray

from ..errors import RayJobError

__all__ = ["RayJobError", "connect", "shutdown"]


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


def shutdown() -> None:
    """Stop the Ray :func:`connect` started."""
    ray.shutdown()
