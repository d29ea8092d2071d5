"""Encoding backends, by the name ``DYN_TOKENIZER`` selects them with.

Adding a backend means one new module with a ``load(text, options)`` function, plus one
entry in ``BACKENDS``.
"""

from __future__ import annotations

from . import fastokens, huggingface
from .base import BackendOptions, BackendRefusedError, Encoder, Loader

__all__ = [
    "ALIASES",
    "AUTO",
    "BACKENDS",
    "BackendOptions",
    "BackendRefusedError",
    "Encoder",
    "Loader",
]

BACKENDS: dict[str, Loader] = {
    "default": huggingface.load,
    "fastokens": fastokens.load,
}
#: Other spellings accepted for a backend name.
ALIASES = {"huggingface": "default", "hf": "default"}
#: fastokens where it can serve the file, HF otherwise (fallback logged at info).
AUTO = "auto"
