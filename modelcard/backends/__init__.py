"""Backends: the libraries that encode, decode and stream, and how a card picks one.

Everything a backend is lives here, and nothing outside this package names one:

    base.py          BackendSpec (name, aliases, source forms, capabilities, options),
                     the Backend Protocol, TokenizerFile, BackendOptions
    registry.py      BACKENDS, the one dict of specs by name; plugins from the
                     ``modelcard.backends`` entry-point group; the reference per form
    huggingface.py   HF tokenizers, the reference for tokenizer.json
    fastokens.py     fastokens: encodes, decodes and streams natively (tokenizer.json
                     and tiktoken ranks files)
    rewrites.py      REWRITES: files fastokens refuses, rewritten into equal forms it serves
    rewritten.py     loading fastokens after those rewrites
    refusals.py      fastokens' refusals in plain words (the real cause)
    tiktoken.py      OpenAI's tiktoken library, the reference for tiktoken ranks files
                     (``pip install "modelcard[tiktoken]"``)
    transformers.py  transformers' AutoTokenizer, a reference for "what would
                     transformers do" (``pip install "modelcard[transformers]"``)
    fallback.py      load-time and per-call fallback to the reference, their counters
                     and their log events
    hybrid.py        decoding with another backend than the encoder (``DYN_DECODER``)
    lazy.py          a backend loaded on first use

Adding a backend means a module with a ``BackendSpec`` and one entry in ``BACKENDS``,
or, from outside modelcard, an entry point in the ``modelcard.backends`` group that
names a ``BackendSpec``::

    [project.entry-points."modelcard.backends"]
    mybackend = "mypackage.backend:SPEC"
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import fallback, hybrid, registry
from .base import (
    TOKENIZER_JSON,
    Backend,
    BackendBase,
    BackendOptions,
    BackendRefusedError,
    BackendSpec,
    Encoding,
    HasIds,
    StreamStep,
    TokenizerFile,
)
from .lazy import LazyBackend
from .registry import (
    AUTO,
    BACKENDS,
    DEFAULT,
    ENTRY_POINT_GROUP,
    REFERENCES,
    UnknownBackendError,
    canonical,
    choices,
    describe_choices,
    fastest,
    help_text,
    reload_plugins,
)

__all__ = [
    "AUTO",
    "BACKENDS",
    "DEFAULT",
    "ENTRY_POINT_GROUP",
    "REFERENCES",
    "TOKENIZER_JSON",
    "Backend",
    "BackendBase",
    "BackendOptions",
    "BackendRefusedError",
    "BackendRequest",
    "BackendSpec",
    "Encoding",
    "HasIds",
    "StreamStep",
    "TokenizerFile",
    "UnknownBackendError",
    "canonical",
    "choices",
    "describe_choices",
    "fastest",
    "get",
    "help_text",
    "open_backend",
    "reload_plugins",
]

get = registry.get


@dataclass(frozen=True)
class BackendRequest:
    """What a card asks of its backends (canonical names, or ``auto``)."""

    tokenizer: str
    decoder: str = AUTO
    fallback: bool = True
    decoder_load: str = "lazy"
    options: BackendOptions = field(default_factory=BackendOptions)


def open_backend(file: TokenizerFile, request: BackendRequest) -> tuple[Backend, str | None]:
    """The backend that serves ``file`` for ``request``, and the fallback reason if any."""
    lazies: dict[str, LazyBackend] = {}

    def lazy(spec: BackendSpec) -> LazyBackend:
        if spec.name not in lazies:
            lazies[spec.name] = LazyBackend(spec, file, request.options)
        return lazies[spec.name]

    backend, reason = fallback.serve(
        file,
        request.tokenizer,
        strict=not request.fallback,
        options=request.options,
        lazy=lazy,
    )
    backend = hybrid.pair(
        backend, request.decoder, file, decoder_load=request.decoder_load, lazy=lazy
    )
    return backend, reason
