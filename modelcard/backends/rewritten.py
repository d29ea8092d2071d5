"""Loading a file fastokens refused, after the rewrites of :mod:`.rewrites`."""

from __future__ import annotations

from .._log import get_logger
from .._translate import translated
from . import rewrites
from .base import BackendOptions, BackendRefusedError, TokenizerFile
from .fastokens import FastokensBackend, _ready
from .refusals import plain_reason

__all__ = ["load_rewritten"]

log = get_logger("modelcard")


def load_rewritten(
    file: TokenizerFile, options: BackendOptions, refusal: BackendRefusedError
) -> FastokensBackend:
    """fastokens on ``file`` rewritten, or a refusal that names the real cause."""
    import fastokens

    cause = refusal.__cause__ or refusal
    reason = plain_reason(str(refusal), file.data)
    if not options.tokenizer_rewrite:
        raise BackendRefusedError(
            f"{reason} (rewrites are off: DYN_TOKENIZER_REWRITE=false)"
        ) from cause
    try:
        done = rewrites.apply_all(file.data)
    except (ValueError, KeyError, TypeError):
        done = None  # not a file a rewrite understands; the reference will judge it
    if done is None:
        raise BackendRefusedError(reason) from cause
    text, names, patches = done
    after = ", ".join(f"'{n}'" for n in names)
    try:
        with translated(BackendRefusedError):
            tokenizer = fastokens.Tokenizer.from_json_str(text)
    except BackendRefusedError as again:
        raise BackendRefusedError(
            f"{reason}; after rewrite {after}: {plain_reason(str(again), text.encode())}"
        ) from (again.__cause__ or again)
    backend = FastokensBackend(tokenizer)
    try:
        for patch in patches:
            patch(backend)
    except BackendRefusedError as failed:
        raise BackendRefusedError(f"{reason}; after rewrite {after}: {failed}") from failed
    backend.rewrites = tuple(names)
    log.info("tokenizer_rewrite", rewrites=list(names), reason=reason, path=str(file.path))
    return _ready(backend, file, options)
