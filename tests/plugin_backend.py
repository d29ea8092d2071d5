"""A third-party backend, written the way a plugin author would: outside modelcard.

``pybpe`` is a small pure-Python byte-level BPE (GPT-2 style files only), so it is an
independent implementation whose ids and text can be checked against HF tokenizers. It
has no native stream (modelcard streams it by decoding), lets modelcard check token ids,
refuses every other kind of file, and fails on purpose on inputs longer than
``MAX_CHARS`` so that per-call fallback has something to do.

It is registered through the ``modelcard.backends`` entry-point group by
``tests/test_backend_contract.py``, which writes a dist-info folder naming ``SPEC``.
"""

from __future__ import annotations

import itertools
import json
from functools import cache
from typing import Any

import regex

from modelcard.backends import (
    BackendBase,
    BackendOptions,
    BackendRefusedError,
    BackendSpec,
    Encoding,
    TokenizerFile,
)

MAX_CHARS = 200_000
_GPT2_SPLIT = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)


def _alternation(tokens: dict[str, int]) -> regex.Pattern[str] | None:
    """A pattern that finds the added tokens, longest first, as HF matches them."""
    if not tokens:
        return None
    return regex.compile("(" + "|".join(map(regex.escape, sorted(tokens, key=len)[::-1])) + ")")


@cache
def _byte_chars() -> dict[int, str]:
    """GPT-2's printable stand-in character for each byte."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


class PyBPE(BackendBase):
    name = "pybpe"
    decoder = "pybpe"
    checks_ids = False

    def __init__(self, document: dict[str, Any]) -> None:
        model = document["model"]
        self._vocab: dict[str, int] = dict(model["vocab"])
        merges = [m.split(" ") if isinstance(m, str) else m for m in model["merges"]]
        self._ranks = {(a, b): rank for rank, (a, b) in enumerate(merges)}
        self._added = {t["content"]: t["id"] for t in document.get("added_tokens", [])}
        self._special = {t["id"] for t in document.get("added_tokens", []) if t.get("special")}
        for content, token_id in self._added.items():
            self._vocab[content] = token_id
        self._tokens = {token_id: token for token, token_id in self._vocab.items()}
        self.vocab_size = max(self._tokens) + 1
        self._bytes = {c: b for b, c in _byte_chars().items()}
        self._split_added = _alternation(self._added)
        self._split_plain = _alternation(
            {c: i for c, i in self._added.items() if i not in self._special}
        )

    def _bpe(self, word: str) -> list[int]:
        parts = list(word)
        while len(parts) > 1:
            pairs = [
                (self._ranks.get(pair, 1 << 30), i)
                for i, pair in enumerate(itertools.pairwise(parts))
            ]
            rank, i = min(pairs)
            if rank == 1 << 30:
                break
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        return [self._vocab[p] for p in parts]

    def encode(self, text: str, add_special_tokens: bool = False) -> Encoding:
        return self._encode(text, self._split_added)

    def encode_split(self, text: str, add_special_tokens: bool = False) -> Encoding:
        return self._encode(text, self._split_plain)

    def encode_ordinary(self, text: str) -> Encoding:
        return self._encode(text, None)

    def encode_batch_split(
        self, texts: list[str], add_special_tokens: bool = False
    ) -> list[Encoding]:
        return [self.encode_split(t) for t in texts]

    def _encode(self, text: str, added: regex.Pattern[str] | None) -> Encoding:
        if not isinstance(text, str):
            raise TypeError("pybpe encodes str")
        if len(text) > MAX_CHARS:
            raise ValueError(f"pybpe: inputs are limited to {MAX_CHARS} characters")
        chars = _byte_chars()
        ids: list[int] = []
        pieces = added.split(text) if added else [text]
        for number, piece in enumerate(pieces):
            if number % 2 == 1:  # what the alternation matched: an added token
                ids.append(self._added[piece])
                continue
            for word in _GPT2_SPLIT.findall(piece):
                ids += self._bpe("".join(chars[b] for b in word.encode("utf-8")))
        return Encoding(ids)

    def encode_batch(self, texts: list[str], add_special_tokens: bool = False) -> list[Encoding]:
        return [self.encode(t, add_special_tokens) for t in texts]

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        out = bytearray()
        for token_id in ids:
            token = self._tokens.get(token_id)
            if token is None or (skip_special_tokens and token_id in self._special):
                continue
            if token_id in self._added.values():
                out += token.encode("utf-8")
            else:
                out += bytes(self._bytes[c] for c in token)
        return out.decode("utf-8", errors="replace")

    def decode_batch(self, rows: list[list[int]], skip_special_tokens: bool = False) -> list[str]:
        return [self.decode(row, skip_special_tokens) for row in rows]

    def token_to_id(self, token: str) -> int | None:
        return self._vocab.get(token)

    def id_to_token(self, token_id: int) -> str | None:
        return self._tokens.get(token_id)


def load(file: TokenizerFile, options: BackendOptions) -> PyBPE:
    document = json.loads(file.text())
    model, pre = document.get("model") or {}, document.get("pre_tokenizer") or {}
    if model.get("type") != "BPE" or pre.get("type") != "ByteLevel" or document.get("normalizer"):
        raise BackendRefusedError("pybpe serves GPT-2-style byte-level BPE files only")
    return PyBPE(document)


SPEC = BackendSpec(
    name="pybpe",
    load=load,
    aliases=("python-bpe",),
    capabilities=frozenset({"encode", "decode"}),
    summary="a pure-Python byte-level BPE (a test plugin)",
)
