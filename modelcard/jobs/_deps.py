"""The optional packages a tokenize job needs, checked before it starts anything.

Without them the job would fail later and further away: in a worker process, as a dead
worker, or as a raw ``ImportError`` from Ray's import.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from ..errors import MissingDependencyError

__all__ = ["MissingDependencyError", "import_ray_engine", "require_jobs", "require_ray"]

JOBS_EXTRA = 'pip install "modelcard[jobs]"'
RAY_EXTRA = 'pip install "modelcard[ray]"'


def _message(what: str, missing: list[str], fix: str) -> str:
    verb = "is" if len(missing) == 1 else "are"
    return f"{what} needs {' and '.join(missing)}, which {verb} not installed here: {fix}"


def require_jobs(modules: tuple[str, ...] = ("pyarrow", "tqdm"), *, load: bool = False) -> None:
    """What the ``jobs`` extra installs: found without importing it, or (``load``) imported.

    The driver checks for pyarrow and tqdm; a worker imports the pyarrow it needs.
    """
    missing: list[str] = []
    for name in modules:
        try:
            if load:
                importlib.import_module(name)
                found = True
            else:
                found = importlib.util.find_spec(name) is not None
        except ImportError:
            found = False
        if not found:
            missing.append(name.partition(".")[0])
    if missing:
        raise MissingDependencyError(_message("modelcard tokenize", missing, JOBS_EXTRA))


def _ray_missing(exc: ImportError) -> MissingDependencyError:
    return MissingDependencyError(
        _message("modelcard tokenize --engine ray", ["Ray"], RAY_EXTRA) + f" ({exc})"
    )


def require_ray() -> None:
    """Ray, imported: the job starts it next."""
    try:
        importlib.import_module("ray")
    except ImportError as exc:
        raise _ray_missing(exc) from exc


def import_ray_engine() -> ModuleType:
    """:mod:`modelcard.jobs.ray_engine`."""
    try:
        return importlib.import_module("modelcard.jobs.ray_engine")
    except ImportError as exc:
        raise _ray_missing(exc) from exc
