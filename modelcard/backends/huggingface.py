"""Hugging Face ``tokenizers``: the reference for ``tokenizer.json`` files."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._translate import translated
from .base import (
    TOKENIZER_JSON,
    BackendBase,
    BackendOptions,
    BackendRefusedError,
    BackendSpec,
    HasIds,
    StreamStep,
    TokenizerFile,
    strip_limits,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["SPEC", "HuggingFaceBackend", "load"]


class HuggingFaceBackend(BackendBase):
    """Encodes, decodes and streams with ``tokenizers.Tokenizer``."""

    name = "huggingface"
    decoder = "huggingface"
    # tokenizers rejects negative, non-int and over-32-bit ids with TypeError/OverflowError.
    checks_ids = True

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.encode: Callable[..., HasIds] = tokenizer.encode
        # encode_batch_fast skips offset tracking, which ids do not need.
        self.encode_batch: Callable[..., Sequence[HasIds]] = tokenizer.encode_batch_fast
        self.decode: Callable[..., str] = tokenizer.decode
        self.decode_batch: Callable[..., list[str]] = tokenizer.decode_batch
        self.vocab_size: int = tokenizer.get_vocab_size(with_added_tokens=True)
        self.token_to_id: Callable[[str], int | None] = tokenizer.token_to_id
        self.id_to_token: Callable[[int], str | None] = tokenizer.id_to_token
        self._splitting: Any | None = None
        self._ordinary: Any | None = None
        self._lock = threading.Lock()

    def _splitter(self) -> Any:
        """A second instance with ``encode_special_tokens`` on, set once, never flipped.

        HF tokenizers keeps that switch per instance, not per call; flipping it on the
        shared instance would change what other threads' encodes return.
        """
        splitting = self._splitting
        if splitting is None:
            with self._lock:
                if self._splitting is None:
                    from tokenizers import Tokenizer

                    other = Tokenizer.from_str(self.tokenizer.to_str())
                    other.encode_special_tokens = True
                    self._splitting = other
                splitting = self._splitting
        return splitting

    def _no_added_tokens(self) -> Any:
        """A third instance where no added token matches: every one is marked special and
        ``encode_special_tokens`` is on (set once, never flipped), as fastokens'
        ``encode_ordinary`` encodes."""
        ordinary = self._ordinary
        if ordinary is None:
            with self._lock:
                if self._ordinary is None:
                    import json

                    from tokenizers import Tokenizer

                    document = json.loads(self.tokenizer.to_str())
                    for token in document.get("added_tokens") or []:
                        token["special"] = True
                    other = Tokenizer.from_str(json.dumps(document))
                    other.encode_special_tokens = True
                    self._ordinary = other
                ordinary = self._ordinary
        return ordinary

    def encode_ordinary(self, text: str) -> HasIds:
        encoding: HasIds = self._no_added_tokens().encode(text, add_special_tokens=False)
        return encoding

    def encode_split(self, text: str, add_special_tokens: bool = False) -> HasIds:
        encoding: HasIds = self._splitter().encode(text, add_special_tokens=add_special_tokens)
        return encoding

    def encode_batch_split(
        self, texts: Sequence[str], add_special_tokens: bool = False
    ) -> Sequence[HasIds]:
        encodings: Sequence[HasIds] = self._splitter().encode_batch_fast(
            texts, add_special_tokens=add_special_tokens
        )
        return encodings

    def encode_batch_flat(
        self, texts: list[str], add_special_tokens: bool, split_special_tokens: bool
    ) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]:
        from .._flat import flatten

        tokenizer = self._splitter() if split_special_tokens else self.tokenizer
        encodings = tokenizer.encode_batch_fast(texts, add_special_tokens=add_special_tokens)
        # Each encoding's ids become a list only while they are copied into the array.
        return flatten([len(e) for e in encodings], (i for e in encodings for i in e.ids))

    def decode_stream(self, ids: list[int] | None, skip_special_tokens: bool) -> StreamStep:
        from tokenizers.decoders import DecodeStream

        raw = DecodeStream(ids=ids, skip_special_tokens=skip_special_tokens)
        step: StreamStep = functools.partial(raw.step, self.tokenizer)
        return step

    def get_vocab(self) -> dict[str, int]:
        vocab: dict[str, int] = self.tokenizer.get_vocab(with_added_tokens=True)
        return vocab

    def strip_limits(self) -> dict[str, Any]:
        return strip_limits(self.tokenizer)


def load(file: TokenizerFile, options: BackendOptions) -> HuggingFaceBackend:
    del options  # nothing to tune
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise BackendRefusedError(
            f'the tokenizers package is not importable ({exc}); pip install "tokenizers"'
        ) from exc
    with translated(BackendRefusedError):
        return HuggingFaceBackend(Tokenizer.from_str(file.text()))


SPEC = BackendSpec(
    name="huggingface",
    load=load,
    aliases=("default", "hf"),
    sources=frozenset({TOKENIZER_JSON}),
    checks_ids=True,
    summary="HF tokenizers, the reference for tokenizer.json",
    requires="tokenizers",
)
