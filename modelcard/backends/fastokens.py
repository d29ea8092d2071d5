"""fastokens: a fast BPE encoder that also decodes and streams natively."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._translate import translated
from ..tiktoken_files import TIKTOKEN
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

__all__ = ["SPEC", "FastokensBackend", "load"]


class FastokensBackend(BackendBase):
    """Encodes, decodes and streams with ``fastokens.Tokenizer``."""

    name = "fastokens"
    decoder = "fastokens"
    # fastokens decodes a negative or non-int id as no text instead of failing.
    checks_ids = False

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.encode: Callable[..., HasIds] = tokenizer.encode
        self.encode_batch: Callable[..., Sequence[HasIds]] = tokenizer.encode_batch
        # fastokens takes the switch per call, so the split forms are the same methods.
        self.encode_split: Callable[..., HasIds] = functools.partial(
            tokenizer.encode, split_special_tokens=True
        )
        self.encode_batch_split: Callable[..., Sequence[HasIds]] = functools.partial(
            tokenizer.encode_batch, split_special_tokens=True
        )
        self.encode_ordinary: Callable[..., HasIds] = tokenizer.encode_ordinary
        self.decode: Callable[..., str] = tokenizer.decode
        self.decode_batch: Callable[..., list[str]] = tokenizer.decode_batch
        self.vocab_size: int = tokenizer.vocab_size
        self.token_to_id: Callable[[str], int | None] = tokenizer.token_to_id
        self.id_to_token: Callable[[int], str | None] = tokenizer.id_to_token
        self._native_stream = True
        #: Set by rewrites: ids HF gives no text for, and the text fastokens must see.
        self.hidden_ids: frozenset[int] = frozenset()
        self.text_in: Callable[..., list[str]] | None = None
        #: The names of the rewrites this file was served after (empty: none).
        self.rewrites: tuple[str, ...] = ()

    def join_tokens(self) -> None:
        """Decode as HF does for a tokenizer.json with no decoder: tokens joined by spaces.

        fastokens concatenates them instead; this is the one file shape where its decode
        differs from HF's. Streams then go through decodes (no native stream).
        """
        tokenizer = self.tokenizer
        specials = frozenset(
            t["content"] for t in tokenizer.added_tokens() if t.get("special", False)
        )
        to_token = tokenizer.id_to_token

        def decode(ids: list[int], skip_special_tokens: bool = False) -> str:
            tokens = [t for t in map(to_token, ids) if t is not None]
            if skip_special_tokens:
                tokens = [t for t in tokens if t not in specials]
            return " ".join(tokens)

        def decode_batch(rows: list[list[int]], skip_special_tokens: bool = False) -> list[str]:
            return [decode(row, skip_special_tokens) for row in rows]

        self.decode = decode
        self.decode_batch = decode_batch
        self._native_stream = False

    def decode_stream(self, ids: list[int] | None, skip_special_tokens: bool) -> StreamStep | None:
        if not self._native_stream:
            return None
        from fastokens._native import DecodeStream

        hidden = self.hidden_ids
        if hidden and ids:
            ids = [i for i in ids if i not in hidden]
        raw = DecodeStream(ids=ids, skip_special_tokens=skip_special_tokens)
        step: StreamStep = functools.partial(raw.step, self.tokenizer)
        if hidden:
            native = step

            def step(token_id: int) -> str | None:
                return None if token_id in hidden else native(token_id)

        return step

    def encode_batch_flat(
        self, texts: list[str], add_special_tokens: bool, split_special_tokens: bool
    ) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]:
        import numpy as np

        if self.text_in is not None:
            texts = self.text_in(texts, split_special_tokens)
        ids, offsets = self.tokenizer.encode_batch_flat(
            texts, add_special_tokens=add_special_tokens, split_special_tokens=split_special_tokens
        )
        return np.frombuffer(ids, dtype=np.uint32), np.frombuffer(offsets, dtype=np.uint64)

    def encode_segments(
        self, segments: Sequence[tuple[str, bool]], add_special_tokens: bool
    ) -> list[int]:
        if self.text_in is not None:
            text_in = self.text_in
            segments = [(text_in([t], False, allow)[0], allow) for t, allow in segments]
        ids: list[int] = self.tokenizer.encode_segments(list(segments)).ids
        return self.frame(ids) if add_special_tokens else ids

    def strip_limits(self) -> dict[str, Any]:
        return strip_limits(self.tokenizer)

    def stats(self) -> dict[str, Any]:
        return {"segment_cache": self.tokenizer.segment_cache_stats()}


def load(file: TokenizerFile, options: BackendOptions) -> FastokensBackend:
    try:
        import fastokens
    except ImportError as exc:
        raise BackendRefusedError(f"the fastokens package is not importable: {exc}") from exc
    if file.tiktoken is not None:
        parts = file.tiktoken
        with translated(BackendRefusedError):
            if parts.encoding in _PRESETS:
                # fastokens' preset splits 3-4x faster than the same regex compiled; the
                # special tokens given replace the preset's.
                tokenizer = fastokens.Tokenizer.from_tiktoken(
                    str(file.path), encoding=parts.encoding, special_tokens=parts.special_tokens
                )
            else:
                tokenizer = fastokens.Tokenizer.from_tiktoken(
                    str(file.path), pattern=parts.pattern, special_tokens=parts.special_tokens
                )
        return _ready(FastokensBackend(tokenizer), file, options)
    try:
        with translated(BackendRefusedError):
            if options.tokenizer_rewrite:
                _refuse_early(file.data)
            if file.exact:
                # From the file itself: a Python copy of its text would add to peak memory.
                tokenizer = fastokens.Tokenizer.from_file(str(file.path))
            else:
                tokenizer = fastokens.Tokenizer.from_json_str(file.text())
    except BackendRefusedError as refusal:
        from .rewritten import load_rewritten

        return load_rewritten(file, options, refusal)
    return _ready(FastokensBackend(tokenizer), file, options)


def _ready(
    backend: FastokensBackend, file: TokenizerFile, options: BackendOptions
) -> FastokensBackend:
    tokenizer = backend.tokenizer
    if options.tokenizer_cache_bytes:
        tokenizer.enable_segment_cache(options.tokenizer_cache_bytes)
    if file.tiktoken is None and _has_no_decoder(file.data):
        backend.join_tokens()
    return backend


#: Forms fastokens refuses only after reading the whole file (0.4 s for roberta-base):
#: seen in the head, the rewrite path is taken at once.
_KNOWN_REFUSALS = (
    (
        re.compile(rb'"pre_tokenizer"\s*:\s*\{\s*"type"\s*:\s*"Metaspace"'),
        "pre-tokenizer error: unsupported pre-tokenizer type: Metaspace",
    ),
    (
        re.compile(rb'"post_processor"\s*:\s*\{\s*"type"\s*:\s*"RobertaProcessing"'),
        "post-processor error: unsupported post-processor type: RobertaProcessing",
    ),
)


#: Normalizer types fastokens 0.3.5 lacks, found in the head's normalizer.
_UNSUPPORTED_NORMALIZER = re.compile(
    rb'"type"\s*:\s*"(NFKC|NFKD|NFD|BertNormalizer|StripAccents|Strip|Nmt|Precompiled)"'
)


def _refuse_early(data: bytes) -> None:
    model = data.find(b'"model"')
    end = model if model > 0 else len(data)
    for pattern, message in _KNOWN_REFUSALS:
        if pattern.search(data, 0, end) is not None:
            raise ValueError(message)  # what fastokens 0.3.5 says for it
    start = data.find(b'"normalizer"', 0, end)
    if start >= 0:
        stop = data.find(b'"pre_tokenizer"', start, end)
        found = _UNSUPPORTED_NORMALIZER.search(data, start, stop if stop > 0 else end)
        if found is not None:
            kind = found.group(1).decode()
            raise ValueError(f"normalizer error: unsupported normalizer type: {kind}")


#: The encodings fastokens has a preset for (fastokens 0.3.5).
_PRESETS = frozenset({"cl100k_base", "o200k_base"})

_NO_DECODER = re.compile(rb'"decoder"\s*:\s*null')


def _has_no_decoder(data: bytes) -> bool:
    # tokenizer.json writes "decoder" before "model", whose vocabulary is most of the file.
    model = data.find(b'"model"')
    return _NO_DECODER.search(data, 0, model if model > 0 else len(data)) is not None


SPEC = BackendSpec(
    name="fastokens",
    load=load,
    sources=frozenset({TOKENIZER_JSON, TIKTOKEN}),
    options=("tokenizer_cache_bytes", "tokenizer_rewrite"),
    auto_rank=0,
    summary="a fast BPE encoder that also decodes and streams",
    requires="fastokens",
)
