"""What a backend is: the Protocol every encoder implements, and its load options."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["BackendOptions", "BackendRefusedError", "Encoder", "HasIds", "strip_limits"]


class HasIds(Protocol):
    """An encoding result of either library: only ``ids`` is used."""

    @property
    def ids(self) -> list[int]: ...


@dataclass(frozen=True)
class BackendOptions:
    """Backend-specific knobs, taken from the ModelCard settings."""

    segment_cache_bytes: int = 0


class BackendRefusedError(Exception):
    """A backend cannot serve this tokenizer.json (unsupported feature, missing package)."""


class Encoder(Protocol):
    """An encoding backend.

    ``encode`` and ``encode_batch`` are the library's own bound methods, so the wrapped
    tokenizer adds no Python frame of ours on the hot path. Both accept
    ``add_special_tokens`` as a keyword and return objects with ``.ids``.
    """

    name: str
    encode: Callable[..., HasIds]
    encode_batch: Callable[..., Sequence[HasIds]]
    vocab_size: int
    #: The HF ``tokenizers.Tokenizer`` behind this encoder, when it has one. A backend
    #: without one gets an HF decoder loaded beside it, because HF decoding is the reference.
    hf_tokenizer: Any | None

    def encode_batch_flat(
        self, texts: list[str], add_special_tokens: bool
    ) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]: ...

    def token_to_id(self, token: str) -> int | None: ...

    def id_to_token(self, token_id: int) -> str | None: ...

    def strip_limits(self) -> dict[str, Any]: ...


def strip_limits(tokenizer: Any) -> dict[str, Any]:
    """Turn off truncation and padding declared in tokenizer.json; return what was on.

    Serving must never clip a prompt silently, and both libraries expose the same
    ``truncation``/``padding``/``no_truncation``/``no_padding`` surface.
    """
    removed: dict[str, Any] = {}
    if tokenizer.truncation:
        removed["truncation"] = dict(tokenizer.truncation)
        tokenizer.no_truncation()
    if tokenizer.padding:
        removed["padding"] = dict(tokenizer.padding)
        tokenizer.no_padding()
    return removed


Loader = Callable[[str, BackendOptions], Encoder]
