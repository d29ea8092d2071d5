"""Decoding with a backend other than the one that encodes (``DYN_DECODER``).

With ``decoder=auto`` the serving backend decodes and streams itself. Naming another
backend pairs them: the serving backend encodes, the named one decodes and streams. The
seed's hybrid, fastokens encoding and HF ``tokenizers`` decoding, is
``tokenizer=fastokens, decoder=huggingface``. The decoder is loaded as
``DYN_DECODER_LOAD`` says: ``lazy`` on first decode, ``background`` in a thread right
after ``load()``, ``eager`` before ``load()`` returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import BackendUnavailableError
from . import registry
from .base import (
    Backend,
    BackendBase,
    BackendRefusedError,
    BackendSpec,
    HasIds,
    StreamStep,
    TokenizerFile,
)
from .lazy import LazyBackend

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["HybridBackend", "pair"]

DECODER_LOADS = ("lazy", "background", "eager")


class HybridBackend(BackendBase):
    """``encoder`` encodes; ``decoder``, loaded on first use, decodes and streams."""

    def __init__(self, encoder: Backend, decoder: LazyBackend, *, where: str, form: str) -> None:
        self.encoder = encoder
        self._decoder = decoder
        self._where = where
        self._form = form
        self.name = encoder.name
        self.decoder = decoder.spec.name
        self.vocab_size = encoder.vocab_size
        self.checks_ids = decoder.spec.checks_ids
        self.encode: Callable[..., HasIds] = encoder.encode
        self.encode_split: Callable[..., HasIds] = encoder.encode_split
        self.encode_ordinary: Callable[..., HasIds] = encoder.encode_ordinary
        self.encode_batch: Callable[..., Sequence[HasIds]] = encoder.encode_batch
        self.encode_batch_split: Callable[..., Sequence[HasIds]] = encoder.encode_batch_split
        self.token_to_id: Callable[[str], int | None] = encoder.token_to_id
        self.id_to_token: Callable[[int], str | None] = encoder.id_to_token

    def _loaded(self) -> Backend:
        try:
            return self._decoder.get()
        except BackendRefusedError as exc:
            raise BackendUnavailableError(
                f"DYN_DECODER={self.decoder}: {self.decoder} cannot load the {self._form} of "
                f"{self._where}: {exc}. Set DYN_DECODER=auto to decode with {self.name}.",
                reason=str(exc),
            ) from exc

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return self._loaded().decode(ids, skip_special_tokens=skip_special_tokens)

    def decode_batch(self, rows: list[list[int]], skip_special_tokens: bool = False) -> list[str]:
        return self._loaded().decode_batch(rows, skip_special_tokens=skip_special_tokens)

    def decode_stream(self, ids: list[int] | None, skip_special_tokens: bool) -> StreamStep | None:
        return self._loaded().decode_stream(ids, skip_special_tokens)

    def encode_batch_flat(
        self, texts: list[str], add_special_tokens: bool, split_special_tokens: bool
    ) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]:
        return self.encoder.encode_batch_flat(texts, add_special_tokens, split_special_tokens)

    def encode_segments(
        self, segments: Sequence[tuple[str, bool]], add_special_tokens: bool
    ) -> list[int]:
        return self.encoder.encode_segments(segments, add_special_tokens)

    def encode_failed(
        self,
        exc: BaseException,
        text: str,
        add_special_tokens: bool,
        split_special_tokens: bool = False,
        *,
        ordinary: bool = False,
    ) -> list[int]:
        return self.encoder.encode_failed(
            exc, text, add_special_tokens, split_special_tokens, ordinary=ordinary
        )

    def encode_batch_failed(
        self,
        exc: BaseException,
        texts: Sequence[str],
        add_special_tokens: bool,
        split_special_tokens: bool = False,
    ) -> list[list[int]]:
        return self.encoder.encode_batch_failed(
            exc, texts, add_special_tokens, split_special_tokens
        )

    def encode_segments_failed(
        self, exc: BaseException, segments: Sequence[tuple[str, bool]], add_special_tokens: bool
    ) -> list[int]:
        return self.encoder.encode_segments_failed(exc, segments, add_special_tokens)

    def get_vocab(self) -> dict[str, int]:
        return self.encoder.get_vocab()

    def strip_limits(self) -> dict[str, Any]:
        return self.encoder.strip_limits()

    def stats(self) -> dict[str, Any]:
        return {**self.encoder.stats(), "decoder_loaded": self._decoder.loaded}


def pair(
    backend: Backend,
    decoder: str,
    file: TokenizerFile,
    *,
    decoder_load: str,
    lazy: Callable[[BackendSpec], LazyBackend],
) -> Backend:
    """``backend``, decoding with ``decoder`` (a name, or ``auto`` for itself)."""
    if decoder == registry.AUTO or decoder == backend.name:
        return backend
    spec = registry.get(decoder)
    if file.form not in spec.sources:
        raise BackendUnavailableError(
            f"DYN_DECODER={decoder}: {decoder} cannot load {file.form} files (it loads "
            f"{', '.join(sorted(spec.sources))}). Set DYN_DECODER=auto to decode with "
            f"{backend.name}.",
            reason=f"{decoder} does not load {file.form} files",
        )
    hybrid = HybridBackend(backend, lazy(spec), where=file.where, form=file.form)
    if decoder_load == "eager":
        hybrid._loaded()
    elif decoder_load == "background":
        lazy(spec).load_in_background()
    return hybrid
