"""Fallback, in one place: what happens when a backend cannot serve a file or an input.

**At load time** (:func:`serve`), the requested backend is loaded. If it refuses the
file, the reference for that file's form (HF ``tokenizers`` for tokenizer.json) tells a
broken file from an unsupported one: when the reference refuses too, the file is broken
(``TokenizerLoadError``). Otherwise, with fallback on, one ``tokenizer_fallback`` event
is logged (a warning; info under ``auto``, where falling back is expected) and the
reference serves; with fallback off, ``BackendUnavailableError`` carries the reason.

**Per call** (:class:`FallbackBackend`), a backend that loaded may still fail on one
input (a byte missing from the vocabulary, a regex match limit). That input is encoded
by the reference, loaded on first need, and counted; ``encode_fallback`` is a warning
once per distinct reason and debug after, so a bad input pattern cannot flood a log.
With fallback off the call raises ``EncodeError`` instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._log import get_logger
from .._translate import describe
from ..errors import BackendUnavailableError, EncodeError, TokenizerLoadError
from . import registry
from .base import (
    TOKENIZER_JSON,
    Backend,
    BackendOptions,
    BackendRefusedError,
    BackendSpec,
    Delegating,
    TokenizerFile,
    check_text,
)
from .lazy import LazyBackend

if TYPE_CHECKING:
    pass

__all__ = ["FallbackBackend", "serve"]

log = get_logger("modelcard")

#: Distinct per-call reasons that get a warning of their own; later ones go to debug.
_MAX_WARNED_REASONS = 256
#: What to check when the reference itself cannot load a file, by form.
_BROKEN_FILE_HINT = {
    TOKENIZER_JSON: "Check that it is a complete 'tokenizer.json' written by HF tokenizers "
    "or transformers (save_pretrained).",
}


class FallbackBackend(Delegating):
    """``primary`` serves; an input it fails on is encoded by ``reference``."""

    def __init__(
        self, primary: Backend, reference: LazyBackend, *, strict: bool, path: str
    ) -> None:
        super().__init__(primary)
        self.primary = primary
        self.reference = reference
        self._strict = strict
        self._path = path
        self._lock = threading.Lock()
        self._count = 0
        self._reasons: set[str] = set()

    def encode_failed(
        self,
        exc: BaseException,
        text: str,
        add_special_tokens: bool,
        split_special_tokens: bool = False,
        *,
        ordinary: bool = False,
    ) -> list[int]:
        check_text(exc, text)
        reason = describe(exc)
        if self._strict:
            raise EncodeError(
                f"{self.name} failed to encode a {len(text)}-character input: {reason}. Set "
                f"DYN_TOKENIZER_FALLBACK=true to encode such inputs with "
                f"{self.reference.spec.name} instead, or DYN_TOKENIZER={self.reference.spec.name}."
            ) from exc
        with self._lock:
            self._count += 1
            count = self._count
            first = reason not in self._reasons and len(self._reasons) < _MAX_WARNED_REASONS
            if first:
                self._reasons.add(reason)
        (log.warning if first else log.debug)(
            "encode_fallback",
            requested=self.name,
            selected=self.reference.spec.name,
            reason=reason,
            chars=len(text),
            count=count,
            path=self._path,
        )
        try:
            reference = self.reference.get()
            if ordinary:
                ids: list[int] = reference.encode_ordinary(text).ids
            else:
                encode = reference.encode_split if split_special_tokens else reference.encode
                ids = encode(text, add_special_tokens=add_special_tokens).ids
        except BaseException as ref_exc:
            check_text(ref_exc, text)
            raise EncodeError(
                f"Both {self.name} ({reason}) and {self.reference.spec.name} "
                f"({describe(ref_exc)}) failed to encode a {len(text)}-character input."
            ) from ref_exc
        return ids

    def stats(self) -> dict[str, Any]:
        return {**self.primary.stats(), "encode_fallbacks": self._count}


def serve(
    file: TokenizerFile,
    requested: str,
    *,
    strict: bool,
    options: BackendOptions,
    lazy: Callable[[BackendSpec], LazyBackend],
) -> tuple[Backend, str | None]:
    """Load the backend ``requested`` (a name or ``auto``) for ``file``, falling back as
    the module docstring says. Returns it and why the request was not met, if it was not.

    ``lazy(spec)`` gives the card's one lazily loaded instance of ``spec``, so a reference
    that is also the decoder is loaded once.
    """
    if requested == registry.AUTO:
        candidates = registry.auto_candidates(file.form)
    else:
        candidates = [registry.get(requested)]
    refusals: list[tuple[BackendSpec, BackendRefusedError]] = []
    for spec in candidates:
        reference = registry.reference_for(spec, file.form)
        try:
            backend = spec.open(file, options)
        except BackendRefusedError as exc:
            if reference is None:
                if registry.REFERENCES.get(file.form) == spec.name:
                    raise _broken(file, spec, exc) from _cause(exc)
                raise BackendUnavailableError(
                    f"{spec.name} cannot serve the {file.form} of {file.where}: {exc}. No "
                    f"backend is the reference for {file.form} files to fall back to.",
                    reason=str(exc),
                ) from _cause(exc)
            refusals.append((spec, exc))
            continue
        if reference is None:
            return backend, None
        return FallbackBackend(backend, lazy(reference), strict=strict, path=str(file.path)), None

    reference_spec = _reference_of(file, refusals)
    try:
        served = reference_spec.open(file, options)
    except BackendRefusedError as exc:
        # The reference refuses too: the file is broken, not merely unsupported.
        raise _broken(file, reference_spec, exc) from _cause(exc)
    reason = "; ".join(str(exc) for _, exc in refusals) or "no backend ranked for auto"
    if requested != registry.AUTO and strict:
        raise BackendUnavailableError(
            f"{requested} cannot serve the {file.form} of {file.where}: {reason}. Set "
            f"DYN_TOKENIZER_FALLBACK=true to fall back to {reference_spec.name}, or "
            f"DYN_TOKENIZER={reference_spec.name} to use it directly.",
            reason=reason,
        ) from (_cause(refusals[0][1]) if refusals else None)
    (log.info if requested == registry.AUTO else log.warning)(
        "tokenizer_fallback",
        requested=requested,
        selected=reference_spec.name,
        reason=reason,
        path=str(file.path),
    )
    return served, reason


def _cause(refusal: BackendRefusedError) -> BaseException:
    """What to chain a public error to: the library's own failure, else the refusal."""
    return refusal.__cause__ or refusal


def _reference_of(
    file: TokenizerFile, refusals: list[tuple[BackendSpec, BackendRefusedError]]
) -> BackendSpec:
    for spec, _ in refusals:
        reference = registry.reference_for(spec, file.form)
        if reference is not None:
            return reference
    name = registry.REFERENCES.get(file.form)
    if name is None:
        raise BackendUnavailableError(
            f"No backend can serve the {file.form} of {file.where}.", reason="no backend"
        )
    return registry.get(name)


def _broken(file: TokenizerFile, spec: BackendSpec, exc: BackendRefusedError) -> TokenizerLoadError:
    if isinstance(exc.__cause__, ImportError):
        # Not a broken file: the reference's library is missing.
        return TokenizerLoadError(
            f"The {file.form} of {file.where} needs the {spec.name} backend, which cannot "
            f"load here: {exc}."
        )
    hint = _BROKEN_FILE_HINT.get(file.form, "Check that the file is complete.")
    return TokenizerLoadError(
        f"The {file.form} of {file.where} is not a valid tokenizer file: {exc} "
        f"({spec.name}). {hint}"
    )
