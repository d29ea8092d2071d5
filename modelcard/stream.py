"""Incremental decoding for streamed generation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._panic import describe, is_library_failure
from .errors import DecodeError, InvalidTokenIdError

__all__ = ["DecodeStream", "bad_id", "id_list"]

_MAX_ID = 2**32 - 1


def id_list(ids: Sequence[int]) -> list[int]:
    """``ids`` as a list, which is what the libraries take (numpy arrays included)."""
    if type(ids) is list:
        return ids
    if hasattr(ids, "tolist"):  # numpy arrays and scalars
        converted = ids.tolist()
        return converted if isinstance(converted, list) else [converted]
    return list(ids)


def bad_id(ids: Sequence[Any], where: str = "") -> InvalidTokenIdError:
    """The error for the first id in ``ids`` that is not a non-negative 32-bit int.

    Only called after the library rejected the ids, so valid input pays nothing for it.
    ``where`` prefixes the message (e.g. which sequence of a batch).
    """
    for position, value in enumerate(ids):
        if isinstance(value, bool) or not isinstance(value, int):
            return InvalidTokenIdError(
                f"{where}Token id at position {position} is {value!r} ({type(value).__name__}); "
                "token ids must be ints."
            )
        if value < 0:
            return InvalidTokenIdError(
                f"{where}Token id {value} at position {position} is negative; token ids are >= 0."
            )
        if value > _MAX_ID:
            return InvalidTokenIdError(
                f"{where}Token id {value} at position {position} is larger than any token id "
                f"(at most {_MAX_ID})."
            )
    return InvalidTokenIdError(f"{where}Token ids must be non-negative ints.")


class DecodeStream:
    """Turns token ids, one at a time, into text as soon as it is complete UTF-8.

    ``step(token_id)`` returns the new text, or None while a character is still
    incomplete. It never returns a partial character or a U+FFFD that decoding the whole
    sequence would not produce, and the chunks of a continuation concatenate to
    ``decode(prompt + continuation)[len(decode(prompt)):]``, also when the prompt ends in
    the middle of a character (where HF's own ``DecodeStream`` repeats the whole prompt).

    Ids are treated as in :meth:`Tokenizer.decode`: an id at or past the vocabulary size
    (a padded embedding row) adds no text, and a negative or non-int id raises
    :class:`InvalidTokenIdError`, after which the stream carries on as if it had not been
    given.
    """

    __slots__ = ("_hf", "_skip", "_step", "_vocab_size")

    _hf: Any
    _skip: int
    _step: Any
    _vocab_size: int

    def __new__(
        cls,
        hf_tokenizer: Any,
        vocab_size: int,
        prompt_ids: Sequence[int] = (),
        skip_special_tokens: bool = False,
    ) -> DecodeStream:
        from tokenizers.decoders import DecodeStream as RawStream

        # Only the end of the prompt matters for what comes next; HF's stream re-decodes
        # its whole context on every step, so a long prompt would slow every token.
        prompt = id_list(prompt_ids[-_CONTEXT:])
        decode = _decoder(hf_tokenizer, skip_special_tokens)
        clean = _complete_prefix(decode, prompt)
        self = object.__new__(_SkippingStream if clean < len(prompt) else DecodeStream)
        self._hf = hf_tokenizer
        self._vocab_size = vocab_size
        self._skip = 0
        try:
            raw = RawStream(ids=prompt[:clean] or None, skip_special_tokens=skip_special_tokens)
        except TypeError as exc:
            raise bad_id(prompt) from exc
        self._step = raw.step
        if clean < len(prompt):
            # The prompt ends inside a character: start from its last complete character,
            # replay the rest, and hide as much text as decode(prompt) already showed.
            replayed = "".join(
                c for c in (self._step(hf_tokenizer, i) for i in prompt[clean:]) if c
            )
            shown = len(decode(prompt)) - len(decode(prompt[:clean]))
            self._skip = max(shown - len(replayed), 0)
        return self

    def step(self, token_id: int) -> str | None:
        try:
            chunk: str | None = self._step(self._hf, token_id)
        except BaseException as exc:
            if not is_library_failure(exc):
                raise
            if isinstance(exc, (TypeError, OverflowError)):
                raise bad_id([token_id]) from exc
            raise DecodeError(
                f"Streaming decode failed at id {token_id!r}: {describe(exc)}"
            ) from exc
        return chunk


class _SkippingStream(DecodeStream):
    """A stream that still has prompt text to hide; it becomes a plain one when done."""

    __slots__ = ()

    def step(self, token_id: int) -> str | None:
        chunk = DecodeStream.step(self, token_id)
        if chunk is None:
            return None
        if len(chunk) <= self._skip:
            self._skip -= len(chunk)
            return None
        chunk = chunk[self._skip :]
        self._skip = 0
        self.__class__ = DecodeStream  # type: ignore[assignment]  # fast path from now on
        return chunk


def _decoder(hf: Any, skip_special_tokens: bool) -> Any:
    def decode(ids: list[int]) -> str:
        try:
            text: str = hf.decode(ids, skip_special_tokens=skip_special_tokens)
        except (TypeError, OverflowError) as exc:
            raise bad_id(ids) from exc
        return text

    return decode


#: Prompt ids kept as context: enough for every decoder's look-behind (a Strip or
#: Metaspace decoder looks at one token, a multibyte character spans at most 4).
_CONTEXT = 16

#: A character spans at most 4 bytes, so at most 4 byte tokens; a little slack for
#: decoders that emit nothing for some tokens.
_MAX_TAIL = 8


def _complete_prefix(decode: Any, prompt: list[int]) -> int:
    """The longest prefix of ``prompt`` whose text does not end in an incomplete character."""
    if not prompt or not decode(prompt).endswith("\ufffd"):
        return len(prompt)
    for cut in range(len(prompt) - 1, max(len(prompt) - _MAX_TAIL, 0) - 1, -1):
        if not decode(prompt[:cut]).endswith("\ufffd"):
            return cut
    return len(prompt)
