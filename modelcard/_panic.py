"""Recognise failures that come out of Rust extensions.

PyO3 turns a Rust panic into ``pyo3_runtime.PanicException``, which derives from
``BaseException`` and cannot be imported by name. Code that translates third-party
errors catches ``BaseException`` and keeps only what :func:`is_library_failure` accepts,
so Ctrl-C and ``SystemExit`` still propagate.
"""

from __future__ import annotations

__all__ = ["describe", "is_library_failure"]


def is_library_failure(exc: BaseException) -> bool:
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def describe(exc: BaseException) -> str:
    """One line about ``exc``: its message, or its type when it has none."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if type(exc).__name__ == "PanicException":
        return f"Rust panic: {first}" if first else "Rust panic"
    return first or type(exc).__name__
