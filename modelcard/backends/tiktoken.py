"""The ``tiktoken`` library: the reference for tiktoken ranks files.

Built from the same ranks, split pattern and special tokens as fastokens gets, so the
two must agree id for id (``pip install "modelcard[tiktoken]"``). Special-token strings
in the text match, as added tokens do in HF tokenizers; tiktoken has no post-processor,
so ``add_special_tokens`` adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..tiktoken_files import TIKTOKEN
from .base import (
    BackendBase,
    BackendOptions,
    BackendRefusedError,
    BackendSpec,
    Encoding,
    TokenizerFile,
)

__all__ = ["SPEC", "TiktokenBackend", "load"]


class TiktokenBackend(BackendBase):
    """Encodes and decodes with ``tiktoken.Encoding``; streams through decodes."""

    name = "tiktoken"
    decoder = "tiktoken"
    checks_ids = False

    def __init__(self, encoding: Any, special_tokens: dict[str, int], vocab_size: int) -> None:
        self.encoding = encoding
        self.vocab_size = vocab_size
        self._specials = dict(special_tokens)
        self._special_ids = frozenset(special_tokens.values())
        self._token_bytes: dict[int, bytes] = {
            rank: token for token, rank in encoding._mergeable_ranks.items()
        }
        for token, token_id in special_tokens.items():
            self._token_bytes[token_id] = token.encode("utf-8")

    def encode(self, text: str, add_special_tokens: bool = False) -> Encoding:
        return Encoding(self.encoding.encode(text, allowed_special="all"))

    def encode_split(self, text: str, add_special_tokens: bool = False) -> Encoding:
        # Every added token of a ranks file is special, so "as text" is "no added token".
        return Encoding(self.encoding.encode_ordinary(text))

    def encode_ordinary(self, text: str) -> Encoding:
        return Encoding(self.encoding.encode_ordinary(text))

    def encode_batch(
        self, texts: Sequence[str], add_special_tokens: bool = False
    ) -> Sequence[Encoding]:
        rows = self.encoding.encode_batch(list(texts), allowed_special="all")
        return [Encoding(row) for row in rows]

    def frame(self, ids: list[int]) -> list[int]:
        return ids

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        table = self._token_bytes
        skipped = self._special_ids if skip_special_tokens else frozenset()
        raw = b"".join(table.get(i, b"") for i in ids if i not in skipped)
        return raw.decode("utf-8", errors="replace")

    def decode_batch(self, rows: list[list[int]], skip_special_tokens: bool = False) -> list[str]:
        return [self.decode(row, skip_special_tokens) for row in rows]

    def token_to_id(self, token: str) -> int | None:
        if token in self._specials:
            return self._specials[token]
        rank: int | None = self.encoding._mergeable_ranks.get(token.encode("utf-8"))
        return rank

    def id_to_token(self, token_id: int) -> str | None:
        raw = self._token_bytes.get(token_id)
        return None if raw is None else raw.decode("utf-8", errors="replace")


def load(file: TokenizerFile, options: BackendOptions) -> TiktokenBackend:
    parts = file.tiktoken
    if parts is None:
        raise BackendRefusedError("tiktoken loads tiktoken ranks files only")
    try:
        import tiktoken
    except ImportError as exc:
        raise BackendRefusedError(
            f'the tiktoken package is not importable ({exc}); pip install "modelcard[tiktoken]"'
        ) from exc
    encoding = tiktoken.Encoding(
        name=file.path.stem,
        pat_str=parts.pattern,
        mergeable_ranks=parts.ranks,
        special_tokens=parts.special_tokens,
        explicit_n_vocab=None,
    )
    return TiktokenBackend(encoding, parts.special_tokens, parts.vocab_size)


SPEC = BackendSpec(
    name="tiktoken",
    load=load,
    sources=frozenset({TIKTOKEN}),
    summary="OpenAI's tiktoken library, the reference for tiktoken ranks files",
    requires="tiktoken",
)
