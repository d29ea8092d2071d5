"""How modelcard logs, without ever configuring logging.

Every module logs through :func:`get_logger`. Events are snake_case names with keyword
data, as in structlog (``log.warning("tokenizer_fallback", requested=..., reason=...)``).
Where an event goes is decided when it is emitted, because an application may configure
structlog after importing modelcard:

* the application configured structlog (``structlog.is_configured()``): through
  structlog, with the application's processors, filtering and output;
* otherwise through the stdlib logger ``modelcard``, as one record whose message is
  ``event key=value ...`` and whose attributes carry the event and its data (``extra``).
  With no logging set up, Python's last-resort handler prints WARNING and above to
  stderr, and ``logging.getLogger("modelcard").setLevel(logging.ERROR)`` silences them.

structlog is never used unconfigured: its default prints every level to stdout, into the
output of whoever runs the application. A disabled level costs one check, so a debug
event on a hot path is free unless someone asked for debug.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["NAME", "Logger", "get_logger"]

NAME = "modelcard"

# Attributes a LogRecord already has: data under these names is renamed with a trailing
# underscore in ``extra`` (the message keeps the original name).
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class Logger:
    """The logger of one modelcard module: structlog when configured, stdlib otherwise."""

    __slots__ = ("_name", "_stdlib")

    def __init__(self, name: str) -> None:
        self._name = name
        self._stdlib = logging.getLogger(name)

    def debug(self, event: str, **data: Any) -> None:
        self._emit(logging.DEBUG, "debug", event, data)

    def info(self, event: str, **data: Any) -> None:
        self._emit(logging.INFO, "info", event, data)

    def warning(self, event: str, **data: Any) -> None:
        self._emit(logging.WARNING, "warning", event, data)

    def error(self, event: str, **data: Any) -> None:
        self._emit(logging.ERROR, "error", event, data)

    def _emit(self, level: int, method: str, event: str, data: dict[str, Any]) -> None:
        # An application that configured structlog has imported it; modelcard does not
        # import it otherwise (structlog's import pulls in rich and pygments when present).
        structlog = sys.modules.get("structlog")
        if structlog is not None and structlog.is_configured():
            getattr(structlog.get_logger(self._name), method)(event, **data)
            return
        stdlib = self._stdlib
        if not stdlib.isEnabledFor(level):
            return
        extra: dict[str, Any] = {"event": event}
        extra.update((f"{k}_" if k in _RESERVED else k, v) for k, v in data.items())
        # stacklevel 3: the record names the modelcard function that logged, not this one.
        stdlib.log(level, "%s", _render(event, data), extra=extra, stacklevel=3)


def get_logger(name: str = NAME) -> Logger:
    """The logger modelcard modules use: ``log = get_logger("modelcard")``."""
    return Logger(name)


def _render(event: str, data: dict[str, Any]) -> str:
    return " ".join([event, *(f"{key}={_value(value)}" for key, value in data.items())])


def _value(value: Any) -> str:
    if isinstance(value, str):
        plain = value and not any(c.isspace() or c in "\"'=" for c in value)
        return value if plain else repr(value)
    return repr(value) if isinstance(value, (list, tuple, dict, set)) else str(value)
