"""transformers' ``AutoTokenizer``, as a reference: what a transformers or vLLM user gets.

transformers 5 may rebuild a tokenizer from its class (``LlamaTokenizer``,
``GPT2Tokenizer``, ...) instead of taking tokenizer.json as published, so its ids can
differ from HF ``tokenizers`` on the same file. This backend answers "will my prompt ids
change if I move from transformers?": it loads the card's own files, and only those,
with ``AutoTokenizer.from_pretrained(..., trust_remote_code=False)``, offline.

It has no native stream; the facade streams it by decoding (see ``modelcard.stream``).
Install it with ``pip install "modelcard[transformers]"``.
"""

from __future__ import annotations

import copy
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._translate import translated
from .base import (
    TOKENIZER_JSON,
    BackendBase,
    BackendOptions,
    BackendRefusedError,
    BackendSpec,
    Encoding,
    TokenizerFile,
)

__all__ = ["SPEC", "TransformersBackend", "load"]

_NO_LIMIT = int(1e30)


class TransformersBackend(BackendBase):
    """Encodes and decodes with a ``transformers`` tokenizer."""

    name = "transformers"
    decoder = "transformers"
    checks_ids = False

    def __init__(self, tokenizer: Any) -> None:
        # Serving never truncates; a length above model_max_length only makes transformers
        # warn on every long input, so lift it (ids do not change).
        tokenizer.model_max_length = _NO_LIMIT
        self.tokenizer = tokenizer
        self._splitting: Any | None = None
        self._ordinary: Any | None = None
        self._lock = threading.Lock()
        self.vocab_size: int = len(tokenizer)
        self._vocab: dict[str, int] = tokenizer.get_vocab()

    def encode(self, text: str, add_special_tokens: bool = False) -> Encoding:
        ids = self.tokenizer.encode(
            text, add_special_tokens=add_special_tokens, split_special_tokens=False
        )
        return Encoding(ids)

    def _splitter(self) -> Any:
        """A copy that always splits special tokens.

        transformers switches ``split_special_tokens`` by setting it on its backend
        instance for the call, which races other threads; each copy keeps one setting.
        """
        splitting = self._splitting
        if splitting is None:
            with self._lock:
                if self._splitting is None:
                    other = copy.deepcopy(self.tokenizer)
                    other.split_special_tokens = True
                    other.encode("", split_special_tokens=True)  # set the switch once, now
                    self._splitting = other
                splitting = self._splitting
        return splitting

    def encode_split(self, text: str, add_special_tokens: bool = False) -> Encoding:
        ids = self._splitter().encode(
            text, add_special_tokens=add_special_tokens, split_special_tokens=True
        )
        return Encoding(ids)

    def encode_ordinary(self, text: str) -> Encoding:
        # transformers has no such call; its tokenizers instance, with no added token
        # allowed to match, is the nearest thing to what it would do.
        ordinary = self._ordinary
        if ordinary is None:
            with self._lock:
                if self._ordinary is None:
                    from .huggingface import HuggingFaceBackend

                    inner = copy.deepcopy(self.tokenizer._tokenizer)
                    self._ordinary = HuggingFaceBackend(inner)
                ordinary = self._ordinary
        return Encoding(ordinary.encode_ordinary(text).ids)

    def encode_batch(
        self, texts: Sequence[str], add_special_tokens: bool = False
    ) -> list[Encoding]:
        rows = self.tokenizer(
            list(texts), add_special_tokens=add_special_tokens, split_special_tokens=False
        )["input_ids"]
        return [Encoding(row) for row in rows]

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        text: str = self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)
        return text

    def decode_batch(self, rows: list[list[int]], skip_special_tokens: bool = False) -> list[str]:
        texts: list[str] = self.tokenizer.batch_decode(
            rows, skip_special_tokens=skip_special_tokens
        )
        return texts

    def token_to_id(self, token: str) -> int | None:
        # convert_tokens_to_ids answers the unk id for an unknown token; None is the contract.
        return self._vocab.get(token)

    def id_to_token(self, token_id: int) -> str | None:
        token: str | None = self.tokenizer.convert_ids_to_tokens(token_id)
        return token

    def get_vocab(self) -> dict[str, int]:
        return dict(self._vocab)


def _card_directory(file: TokenizerFile, into: Path) -> Path:
    """A directory holding exactly the card's files, linked under their repo names.

    transformers reads whatever it finds in a directory; a local model folder may hold
    more (weights, a slow ``tokenizer.model``) than the card that modelcard loaded.
    """
    for name, path in {**file.files, file.form: file.path}.items():
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.symlink(os.path.realpath(path), target)
        except OSError:
            target.write_bytes(Path(path).read_bytes())
    return into


def load(file: TokenizerFile, options: BackendOptions) -> TransformersBackend:
    del options
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise BackendRefusedError(
            f'transformers is not importable ({exc}); pip install "modelcard[transformers]"'
        ) from exc
    with tempfile.TemporaryDirectory(prefix="modelcard-transformers-") as scratch:
        directory = _card_directory(file, Path(scratch))
        with translated(BackendRefusedError, lambda r: f"AutoTokenizer cannot load it: {r}"):
            tokenizer = AutoTokenizer.from_pretrained(
                str(directory), trust_remote_code=False, local_files_only=True
            )
    return TransformersBackend(tokenizer)


SPEC = BackendSpec(
    name="transformers",
    load=load,
    sources=frozenset({TOKENIZER_JSON}),
    capabilities=frozenset({"encode", "decode"}),
    summary="transformers' AutoTokenizer on the card's files, a slow reference",
    requires="modelcard[transformers]",
)
