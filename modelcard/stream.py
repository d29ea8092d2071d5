"""Incremental decoding for streamed generation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._panic import describe, is_library_failure
from .errors import DecodeError, InvalidTokenIdError

__all__ = ["DecodeStream", "check_ids"]


def check_ids(ids: Sequence[int], vocab_size: int) -> list[int]:
    """Return ``ids`` as a list, or raise :class:`InvalidTokenIdError` for an id out of range.

    Non-int ids that compare like numbers (floats) are left for the library to reject with
    ``TypeError``, which callers translate with :func:`bad_id`; a Python loop over every id
    would cost more than the decode itself.
    """
    if hasattr(ids, "tolist"):  # numpy arrays and scalars
        ids = ids.tolist()
    out = ids if isinstance(ids, list) else list(ids)
    try:
        if out and (min(out) < 0 or max(out) >= vocab_size):
            raise bad_id(out, vocab_size)
    except TypeError:
        raise bad_id(out, vocab_size) from None
    return out


def bad_id(ids: Sequence[Any], vocab_size: int) -> InvalidTokenIdError:
    """The error for the first invalid id in ``ids``."""
    for position, value in enumerate(ids):
        if isinstance(value, bool) or not isinstance(value, int):
            return InvalidTokenIdError(
                f"Token id at position {position} is {value!r} ({type(value).__name__}); "
                "token ids must be ints."
            )
        if not 0 <= value < vocab_size:
            return InvalidTokenIdError(
                f"Token id {value} at position {position} is outside the vocabulary "
                f"[0, {vocab_size}). Check that the ids come from this model's tokenizer."
            )
    return InvalidTokenIdError(f"Invalid token ids for a vocabulary of {vocab_size}.")


class DecodeStream:
    """Turns token ids, one at a time, into text as soon as it is complete UTF-8.

    ``step(token_id)`` returns the new text, or None while a character is still
    incomplete. It never returns a partial character or a U+FFFD that decoding the whole
    sequence would not produce, and the chunks of a continuation concatenate to
    ``decode(prompt + continuation)[len(decode(prompt)):]``, also when the prompt ends in
    the middle of a character (where HF's own ``DecodeStream`` repeats the whole prompt).

    An invalid id raises :class:`InvalidTokenIdError` and is otherwise ignored: the
    stream carries on as if it had not been given.
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

        prompt = check_ids(prompt_ids, vocab_size)
        decode = _decoder(hf_tokenizer, skip_special_tokens, vocab_size)
        clean = _complete_prefix(decode, prompt)
        self = object.__new__(_SkippingStream if clean < len(prompt) else DecodeStream)
        self._hf = hf_tokenizer
        self._vocab_size = vocab_size
        self._skip = 0
        try:
            raw = RawStream(ids=prompt[:clean] or None, skip_special_tokens=skip_special_tokens)
        except TypeError as exc:
            raise bad_id(prompt, vocab_size) from exc
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
            if isinstance(exc, TypeError):
                raise bad_id([token_id], self._vocab_size) from exc
            raise DecodeError(
                f"Streaming decode failed at id {token_id!r}: {describe(exc)}"
            ) from exc
        # Only an unknown id can make the library return None for a token it cannot place,
        # so the range check stays off the common path.
        if chunk is None and not 0 <= token_id < self._vocab_size:
            raise bad_id([token_id], self._vocab_size)
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


def _decoder(hf: Any, skip_special_tokens: bool, vocab_size: int) -> Any:
    def decode(ids: list[int]) -> str:
        try:
            text: str = hf.decode(ids, skip_special_tokens=skip_special_tokens)
        except (TypeError, OverflowError) as exc:
            raise bad_id(ids, vocab_size) from exc
        return text

    return decode


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
