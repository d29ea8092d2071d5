"""The one boundary where third-party failures become modelcard errors.

HF ``tokenizers`` raises a bare ``Exception`` for a malformed file, a Rust panic surfaces
as ``pyo3_runtime.PanicException`` (a ``BaseException`` that cannot be imported by name),
and fastokens raises ``ValueError`` for anything. Code that calls such a library wraps
the call in :func:`translated`, which turns exactly these failures into the modelcard
error it is given, chained with ``from exc``, and lets everything else through:
``KeyboardInterrupt`` and ``SystemExit`` still propagate, and a modelcard error raised
inside stays as it is.

Decoding has one more rule, in :func:`decode_failure`: a ``TypeError`` or
``OverflowError`` from the library means a bad id, reported with its position.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ._ids import bad_id
from .errors import DecodeError, ModelCardError

__all__ = [
    "decode_failure",
    "describe",
    "is_library_failure",
    "translated",
]


def is_library_failure(exc: BaseException) -> bool:
    """True for what a wrapped library raises when it fails; False for Ctrl-C and exits."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def describe(exc: BaseException) -> str:
    """One line about ``exc``: its message, or its type when it has none."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if type(exc).__name__ == "PanicException":
        return f"Rust panic: {first}" if first else "Rust panic"
    return first or type(exc).__name__


@contextlib.contextmanager
def translated(
    error: Callable[[str], BaseException], message: Callable[[str], str] = str
) -> Iterator[None]:
    """Raise ``error(message(reason))`` from any library failure inside the block.

    ``reason`` is :func:`describe` of the failure. Modelcard's own errors pass through.
    """
    try:
        yield
    except BaseException as exc:
        if isinstance(exc, ModelCardError) or not is_library_failure(exc):
            raise
        raise error(message(describe(exc))) from exc


def decode_failure(exc: BaseException, ids: Sequence[Any], where: str = "") -> BaseException:
    """What to raise when a library failed to decode ``ids``."""
    if isinstance(exc, ModelCardError) or not is_library_failure(exc):
        return exc
    if isinstance(exc, (TypeError, OverflowError)):
        return bad_id(ids, where)
    return DecodeError(f"{where}Decoding {len(ids)} ids failed: {describe(exc)}")
