"""Incremental decoding for streamed generation, on any backend.

A backend with a native stream (HF ``tokenizers``, fastokens) gives its step function;
one without gets :class:`_DecodedSteps`, which finds new text by decoding a short window.
Either way :class:`DecodeStream` adds the guarantees below.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ._ids import bad_id, check_ids, id_list, one_id
from ._translate import decode_failure, describe, is_library_failure
from .errors import DecodeError, ModelCardError

if TYPE_CHECKING:
    from .backends import Backend, StreamStep

__all__ = ["DecodeStream"]


class DecodeStream:
    """Turns token ids, one at a time, into text as soon as it is complete UTF-8.

    ``step(token_id)`` returns the new text, or None while a character is still
    incomplete. It never returns a partial character or a U+FFFD that decoding the whole
    sequence would not produce, and the chunks of a continuation concatenate to
    ``decode(prompt + continuation)[len(decode(prompt)):]``, also when the prompt ends in
    the middle of a character (where HF's own ``DecodeStream`` repeats the whole prompt).

    Ids are treated as in :meth:`Tokenizer.decode`: an id at or past the vocabulary size
    (a padded embedding row) adds no text, and a negative, non-int or bool id raises
    :class:`InvalidTokenIdError`, after which the stream carries on as if it had not been
    given. Byte tokens that never complete a character come out as U+FFFD, and the
    stream carries on (HF's own stream raises there).
    """

    __slots__ = ("_decode", "_skip", "_step")

    _decode: Callable[[list[int]], str]
    _skip: int
    _step: StreamStep

    def __new__(
        cls,
        backend: Backend,
        prompt_ids: Sequence[int] = (),
        skip_special_tokens: bool = False,
    ) -> DecodeStream:
        # Only the end of the prompt matters for what comes next; a native stream
        # re-decodes its whole context on every step, so a long prompt would slow every token.
        prompt = id_list(prompt_ids[-_CONTEXT:])
        check_ids(prompt, library_checks=False)
        decode = _decoder(backend, skip_special_tokens)
        clean = _complete_prefix(decode, prompt)
        self = object.__new__(_SkippingStream if clean < len(prompt) else DecodeStream)
        self._decode = decode
        self._skip = 0
        try:
            native = backend.decode_stream(prompt[:clean] or None, skip_special_tokens)
        except ModelCardError:
            raise
        except BaseException as exc:
            if not is_library_failure(exc):
                raise
            raise DecodeError(f"Starting a decode stream failed: {describe(exc)}") from exc
        self._step = native if native is not None else _DecodedSteps(decode, prompt[:clean])
        if clean < len(prompt):
            # The prompt ends inside a character: start from its last complete character,
            # replay the rest, and hide as much text as decode(prompt) already showed.
            replayed = "".join(c for c in (self._step(i) for i in prompt[clean:]) if c)
            shown = len(decode(prompt)) - len(decode(prompt[:clean]))
            self._skip = max(shown - len(replayed), 0)
        return self

    def step(self, token_id: int) -> str | None:
        # The native steps reject negative, non-int and too-large ids themselves (the
        # except below names them); only bools, which they take as 0 and 1, are looked for.
        if token_id is True or token_id is False:
            raise bad_id([token_id])
        try:
            chunk: str | None = self._step(token_id)
        except BaseException as exc:
            if isinstance(exc, ModelCardError) or not is_library_failure(exc):
                raise
            if isinstance(exc, (TypeError, OverflowError)):
                one_id(token_id)  # raises InvalidTokenIdError naming a bad id
                raise DecodeError(
                    f"Streaming decode failed at id {token_id!r}: {describe(exc)}"
                ) from exc
            # A native stream gives up when bytes it held back turn out not to be UTF-8
            # ("Invalid prefix encountered"), which a model can sample. Show them as
            # U+FFFD, as decode does, and carry on by decoding.
            self._step = _DecodedSteps(self._decode, [])
            chunk = "\ufffd" + (self._step(token_id) or "")
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


class _DecodedSteps:
    """A stream made of decodes, for backends without a native one.

    It keeps the ids since the last emitted text plus a little context before them,
    decodes that window after each id, and emits what grew once it does not end in an
    incomplete character.
    """

    __slots__ = ("_context", "_decode", "_ids", "_shown")

    def __init__(self, decode: Callable[[list[int]], str], prompt: list[int]) -> None:
        self._decode = decode
        self._ids = list(prompt)
        self._context = len(self._ids)
        self._shown = decode(self._ids) if self._ids else ""

    def __call__(self, token_id: int) -> str | None:
        self._ids.append(one_id(token_id))
        text = self._decode(self._ids)
        if len(text) <= len(self._shown) or text.endswith("\ufffd"):
            return None
        common = len(self._shown) if text.startswith(self._shown) else _common(text, self._shown)
        new = text[common:]
        # What was just decoded becomes the context of the next step.
        self._ids = self._ids[self._context :]
        self._context = len(self._ids)
        self._shown = self._decode(self._ids)
        return new


def _common(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _decoder(backend: Backend, skip_special_tokens: bool) -> Callable[[list[int]], str]:
    decode = functools.partial(backend.decode, skip_special_tokens=skip_special_tokens)

    def checked(ids: list[int]) -> str:
        try:
            return decode(ids)
        except BaseException as exc:
            raise decode_failure(exc, ids) from exc

    return checked


#: Prompt ids kept as context: enough for every decoder's look-behind (a Strip or
#: Metaspace decoder looks at one token, a multibyte character spans at most 4).
_CONTEXT = 16

#: A character spans at most 4 bytes, so at most 4 byte tokens; a little slack for
#: decoders that emit nothing for some tokens.
_MAX_TAIL = 8


def _complete_prefix(decode: Callable[[list[int]], str], prompt: list[int]) -> int:
    """The longest prefix of ``prompt`` whose text does not end in an incomplete character."""
    if not prompt or not decode(prompt).endswith("\ufffd"):
        return len(prompt)
    for cut in range(len(prompt) - 1, max(len(prompt) - _MAX_TAIL, 0) - 1, -1):
        if not decode(prompt[:cut]).endswith("\ufffd"):
            return cut
    return len(prompt)
