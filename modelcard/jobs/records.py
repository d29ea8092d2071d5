"""One input record: its text (or chat messages), or why it is bad.

A record is found by ``source`` (its file, relative to the job's INPUT) and ``row``, its
1-based position in that file: the line number in a JSONL file (blank lines count, so
``sed -n ROWp`` prints it) and the row number in a Parquet file. Every engine reports
bad records the same way, with the same kinds.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ..errors import RecordError

__all__ = ["BadRecord", "RecordError", "check_value", "parse_line"]

#: Why a record is bad; the manifest counts skipped records under these names.
KINDS = (
    "malformed_json",
    "not_an_object",
    "missing_field",
    "not_a_string",
    "not_a_list",
    "chat_template",
    "encode",
)


@dataclasses.dataclass(frozen=True, slots=True)
class BadRecord:
    """A record the job could not encode: where it is, which kind of problem, and why."""

    source: str
    row: int
    kind: str
    reason: str

    @property
    def where(self) -> str:
        unit = "row" if self.source.endswith((".parquet", ".pq")) else "line"
        return f"{self.source} {unit} {self.row}"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def json_type(value: Any) -> str:
    """The JSON name of a value's type, as a user would say it about their file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def check_value(value: Any, field: str, chat: bool) -> tuple[str, str] | None:
    """``(kind, reason)`` when ``value`` cannot be encoded, else None.

    Chat messages are only checked to be a list here; the chat template checks the rest
    when it renders them.
    """
    if chat:
        if not isinstance(value, (list, tuple)):
            return "not_a_list", f"field {field!r} is {json_type(value)}, not a list of messages"
        return None
    if not isinstance(value, str):
        return "not_a_string", f"field {field!r} is {json_type(value)}, not a string"
    return None


def parse_line(line: bytes, field: str, chat: bool) -> tuple[bool, Any]:
    """``(True, value)`` for a good JSONL line, ``(False, (kind, reason))`` for a bad one."""
    try:
        obj = json.loads(line)
    except UnicodeDecodeError as exc:
        return False, ("malformed_json", f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    except ValueError as exc:
        return False, ("malformed_json", f"malformed JSON ({exc})")
    if not isinstance(obj, dict):
        return False, ("not_an_object", f"the line is {json_type(obj)}, not a JSON object")
    try:
        value = obj[field]
    except KeyError:
        fields = ", ".join(repr(k) for k in list(obj)[:8]) or "none"
        return False, ("missing_field", f"no field {field!r} (fields: {fields}); see --field")
    problem = check_value(value, field, chat)
    if problem is not None:
        return False, problem
    return True, value
