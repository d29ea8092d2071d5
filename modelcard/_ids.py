"""Token ids as the libraries take them, and the error for ids that are not ids."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

from .errors import InvalidTokenIdError

__all__ = ["MAX_ID", "bad_id", "check_ids", "id_list", "one_id"]

#: Token ids are unsigned 32-bit in every library modelcard wraps.
MAX_ID = 2**32 - 1


def id_list(ids: Sequence[int]) -> list[int]:
    """``ids`` as a list, which is what the libraries take (numpy arrays included)."""
    if type(ids) is list:
        return ids
    if hasattr(ids, "tolist"):  # numpy arrays and scalars
        converted = ids.tolist()
        return converted if isinstance(converted, list) else [converted]
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
        raise InvalidTokenIdError(
            f"Token ids must be a sequence of ints, not {type(ids).__name__}."
        )
    return list(ids)


def check_ids(ids: list[Any], *, library_checks: bool) -> None:
    """Raise InvalidTokenIdError unless every id is a non-negative 32-bit int.

    ``library_checks``: the decoding library rejects negative, non-int and too-large ids
    itself, so only bools (which every library takes as 0 and 1) are looked for. Both
    checks run in C: building an unsigned 32-bit array, and a scan of the ids' types.
    """
    if not library_checks:
        try:
            array("I", ids)
        except (TypeError, OverflowError, ValueError):
            raise bad_id(ids) from None
    if bool in map(type, ids):
        raise bad_id(ids)


def one_id(token_id: Any) -> int:
    """``token_id`` as an int (numpy integers included), or InvalidTokenIdError."""
    if isinstance(token_id, bool) or not hasattr(token_id, "__index__"):
        raise bad_id([token_id])
    value: int = token_id.__index__()
    if not 0 <= value <= MAX_ID:
        raise bad_id([value])
    return value


def bad_id(ids: Sequence[Any], where: str = "") -> InvalidTokenIdError:
    """The error for the first id in ``ids`` that is not a non-negative 32-bit int.

    Only called once a check or the library rejected the ids, so valid input pays
    nothing for the message. ``where`` prefixes it (e.g. which sequence of a batch).
    """
    for position, value in enumerate(ids):
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            return InvalidTokenIdError(
                f"{where}Token id at position {position} is {value!r} "
                f"({type(value).__name__}); token ids must be ints."
            )
        number = value.__index__()
        if number < 0:
            return InvalidTokenIdError(
                f"{where}Token id {number} at position {position} is negative; token ids are >= 0."
            )
        if number > MAX_ID:
            return InvalidTokenIdError(
                f"{where}Token id {number} at position {position} is larger than any token id "
                f"(at most {MAX_ID})."
            )
    return InvalidTokenIdError(f"{where}Token ids must be non-negative ints.")
