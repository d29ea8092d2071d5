"""Decoding with a backend other than the one that encodes (``DYN_DECODER``).

With ``decoder=auto`` the serving backend decodes and streams itself. Naming another
backend pairs them: the serving backend encodes, the named one decodes and streams. The
seed's hybrid, fastokens encoding and HF ``tokenizers`` decoding, is
``tokenizer=fastokens, decoder=huggingface``. The decoder is loaded as
``DYN_DECODER_LOAD`` says: ``lazy`` on first decode, ``background`` in a thread right
after ``load()``, ``eager`` before ``load()`` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import BackendUnavailableError
from . import registry
from .base import Backend, BackendRefusedError, BackendSpec, Delegating, StreamStep, TokenizerFile
from .lazy import LazyBackend

__all__ = ["HybridBackend", "pair"]


class HybridBackend(Delegating):
    """``encoder`` encodes; ``decoder``, loaded on first use, decodes and streams."""

    def __init__(self, encoder: Backend, decoder: LazyBackend, *, where: str, form: str) -> None:
        super().__init__(encoder)
        self.encoder = encoder
        self._decoder = decoder
        self._where = where
        self._form = form
        self.decoder = decoder.spec.name
        self.checks_ids = decoder.spec.checks_ids
        self.decode = self._decode
        self.decode_batch = self._decode_batch

    def _loaded(self) -> Backend:
        try:
            return self._decoder.get()
        except BackendRefusedError as exc:
            raise BackendUnavailableError(
                f"DYN_DECODER={self.decoder}: {self.decoder} cannot load the {self._form} of "
                f"{self._where}: {exc}. Set DYN_DECODER=auto to decode with {self.name}.",
                reason=str(exc),
            ) from exc

    def _decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return self._loaded().decode(ids, skip_special_tokens=skip_special_tokens)

    def _decode_batch(self, rows: list[list[int]], skip_special_tokens: bool = False) -> list[str]:
        return self._loaded().decode_batch(rows, skip_special_tokens=skip_special_tokens)

    def decode_stream(self, ids: list[int] | None, skip_special_tokens: bool) -> StreamStep | None:
        return self._loaded().decode_stream(ids, skip_special_tokens)

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
