"""The fast backend: ``fastokens`` encodes; decoding stays with HF ``tokenizers``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .base import BackendOptions, BackendRefusedError, HasIds, strip_limits

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["FastokensEncoder", "load"]


class FastokensEncoder:
    """Encodes with ``fastokens.Tokenizer``."""

    name = "fastokens"
    hf_tokenizer: Any | None = None

    def __init__(self, tokenizer: Any) -> None:
        self.fast_tokenizer = tokenizer
        self.encode: Callable[..., HasIds] = tokenizer.encode
        self.encode_batch: Callable[..., Sequence[HasIds]] = tokenizer.encode_batch
        self.vocab_size: int = tokenizer.vocab_size
        self.token_to_id: Callable[[str], int | None] = tokenizer.token_to_id
        self.id_to_token: Callable[[int], str | None] = tokenizer.id_to_token

    def encode_batch_flat(
        self, texts: list[str], add_special_tokens: bool
    ) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]:
        import numpy as np

        ids, offsets = self.fast_tokenizer.encode_batch_flat(
            texts, add_special_tokens=add_special_tokens
        )
        return np.frombuffer(ids, dtype=np.uint32), np.frombuffer(offsets, dtype=np.uint64)

    def strip_limits(self) -> dict[str, Any]:
        return strip_limits(self.fast_tokenizer)

    def segment_cache_stats(self) -> dict[str, int] | None:
        stats: dict[str, int] | None = self.fast_tokenizer.segment_cache_stats()
        return stats


def load(text: str, options: BackendOptions) -> FastokensEncoder:
    try:
        import fastokens
    except ImportError as exc:
        raise BackendRefusedError(f"the fastokens package is not importable: {exc}") from exc
    try:
        tokenizer = fastokens.Tokenizer.from_json_str(text)
    except BaseException as exc:
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        raise BackendRefusedError(str(exc) or type(exc).__name__) from exc
    if options.segment_cache_bytes:
        tokenizer.enable_segment_cache(options.segment_cache_bytes)
    return FastokensEncoder(tokenizer)
