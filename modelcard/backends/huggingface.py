"""The reference backend: Hugging Face ``tokenizers``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._flat import flatten
from .base import BackendOptions, HasIds, strip_limits

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["HuggingFaceEncoder", "load", "load_hf_tokenizer"]


def load_hf_tokenizer(data: str | bytes) -> Any:
    """Build a ``tokenizers.Tokenizer`` from tokenizer.json text (or its UTF-8 bytes).

    ``tokenizers`` raises a bare ``Exception`` for malformed files and a Rust panic
    surfaces as ``BaseException``; callers translate both.
    """
    from tokenizers import Tokenizer

    if isinstance(data, bytes):
        return Tokenizer.from_buffer(data)
    return Tokenizer.from_str(data)


class HuggingFaceEncoder:
    """Encodes with ``tokenizers.Tokenizer``; it is its own decoder."""

    name = "huggingface"

    def __init__(self, tokenizer: Any) -> None:
        self.hf_tokenizer = tokenizer
        self.encode: Callable[..., HasIds] = tokenizer.encode
        # encode_batch_fast skips offset tracking, which ids do not need.
        self.encode_batch: Callable[..., Sequence[HasIds]] = tokenizer.encode_batch_fast
        self.vocab_size: int = tokenizer.get_vocab_size(with_added_tokens=True)
        self.token_to_id: Callable[[str], int | None] = tokenizer.token_to_id
        self.id_to_token: Callable[[int], str | None] = tokenizer.id_to_token

    def encode_batch_flat(
        self, texts: list[str], add_special_tokens: bool
    ) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]:
        encodings = self.hf_tokenizer.encode_batch_fast(
            texts, add_special_tokens=add_special_tokens
        )
        # Each encoding's ids become a list only while they are copied into the array.
        return flatten([len(e) for e in encodings], (i for e in encodings for i in e.ids))

    def strip_limits(self) -> dict[str, Any]:
        return strip_limits(self.hf_tokenizer)


def load(text: str, options: BackendOptions) -> HuggingFaceEncoder:
    del options  # nothing to tune
    return HuggingFaceEncoder(load_hf_tokenizer(text))
