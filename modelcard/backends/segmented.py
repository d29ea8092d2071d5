"""fastokens fed HF's pieces: the added-token split, the normalizer and Metaspace's
per-piece steps run in Python, and fastokens encodes each piece with no added token
matching (``encode_segments``), as HF's model and pre-tokenizer see them.

This is how the ``normalizer-in-python`` and ``metaspace-in-python`` rewrites serve a
file whose normalizer fastokens lacks (NFKC, NFKD, BertNormalizer, ...), or whose
Metaspace prepends to every piece between added tokens (``always``): HF normalizes and
pre-tokenizes *each piece* between added tokens, which a whole-text step in front of
fastokens cannot reproduce. The normalizer is HF's own, built from the file's JSON, so
its Unicode tables are HF's too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from .added_split import AddedSplit, AddedToken
from .base import BackendRefusedError, HasIds, _probe_frame

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from .fastokens import FastokensBackend

__all__ = ["Metaspace", "Plan", "hf_normalizer", "serve"]


@dataclass(frozen=True)
class Metaspace:
    """HF's Metaspace step on one piece: spaces become ``replacement``, which is put in
    front per ``scheme`` unless the piece starts with it (the split, if any, is left to
    fastokens' pre-tokenizer)."""

    replacement: str
    scheme: str  # "always", "first" (only the piece at offset 0 of the raw text), "never"

    def __call__(self, piece: str, at_start: bool) -> str:
        rep = self.replacement
        piece = piece.replace(" ", rep)
        if piece.startswith(rep) or self.scheme == "never":
            return piece
        if self.scheme == "always" or at_start:
            return rep + piece
        return piece


@dataclass(frozen=True)
class Plan:
    """What runs in Python before fastokens: the file's added tokens, its normalizer
    (HF JSON) and its Metaspace step."""

    added: tuple[AddedToken, ...]
    normalizer: dict[str, Any] | None = None
    metaspace: Metaspace | None = None


def hf_normalizer(spec: dict[str, Any]) -> Callable[[str], str]:
    """HF's normalizer of ``spec`` (a tokenizer.json ``normalizer``), as a str function."""
    from tokenizers import Tokenizer

    document: dict[str, Any] = {
        "version": "1.0",
        "added_tokens": [],
        "normalizer": spec,
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": None,
        "model": {"type": "BPE", "vocab": {}, "merges": []},
    }
    hf_normalize: Callable[[str], str] = Tokenizer.from_str(
        json.dumps(document)
    ).normalizer.normalize_str
    forms = _unicode_forms(spec)
    if forms is None:
        ascii_step = _bert_on_ascii(spec)
        if ascii_step is None:
            return hf_normalize
        return _ascii_by(ascii_step, hf_normalize)
    if not _tables_no_newer(forms, hf_normalize):
        return _ascii_skipped(hf_normalize)
    import unicodedata

    def normalize(text: str) -> str:
        # A text that Python's tables (Unicode 14 in 3.11) call normalized is left as it
        # is by HF's older tables too: decompositions and compositions of assigned
        # characters never change between versions, and HF's tables hold no character
        # Python's lack (checked at build; tests/test_added_split.py checks every code
        # point). Only the others pay for HF's normalizer.
        if text.isascii() or all(unicodedata.is_normalized(f, text) for f in forms):
            return text
        return hf_normalize(text)

    return normalize


def _ascii_by(
    ascii_step: Callable[[str], str], hf_normalize: Callable[[str], str]
) -> Callable[[str], str]:
    def normalize(text: str) -> str:
        return ascii_step(text) if text.isascii() else hf_normalize(text)

    return normalize


#: BertNormalizer's clean_text on ASCII: control characters (category Cc) go, but tab,
#: newline and carriage return, which become spaces.
_BERT_CLEAN_ASCII = dict.fromkeys([*range(32), 127]) | {9: " ", 10: " ", 13: " "}


def _bert_on_ascii(spec: dict[str, Any]) -> Callable[[str], str] | None:
    """BertNormalizer on an ASCII text, where it is exact without HF: clean_text drops
    the control characters and makes tab, newline and CR spaces; no ASCII character is
    Chinese, decomposes or carries an accent; lowercase is ASCII's."""
    if spec.get("type") != "BertNormalizer":
        return None
    clean = bool(spec.get("clean_text", True))
    lower = bool(spec.get("lowercase", True))

    def step(text: str) -> str:
        if clean:
            text = text.translate(_BERT_CLEAN_ASCII)
        return text.lower() if lower else text

    return step


def _ascii_skipped(hf_normalize: Callable[[str], str]) -> Callable[[str], str]:
    def normalize(text: str) -> str:
        # ASCII holds no decomposable character and no combining mark: every Unicode
        # normalization form leaves it as it is.
        return text if text.isascii() else hf_normalize(text)

    return normalize


_UNICODE_FORMS = ("NFC", "NFD", "NFKC", "NFKD")

#: Characters with a decomposition, added in Unicode 13 to 16: HF's tables must not
#: change one that Python's tables do not know (then HF's would be the newer ones).
_NEWER_DECOMPOSABLE = "\U0001fbf0\ua7f2\U00010781\U0001e030\U0001e06d"


def _unicode_forms(
    spec: dict[str, Any],
) -> tuple[Literal["NFC", "NFD", "NFKC", "NFKD"], ...] | None:
    """The Unicode normalization forms ``spec`` is made of, or None if it holds more."""
    kind = spec.get("type")
    if kind in _UNICODE_FORMS:
        return (kind,)
    if kind != "Sequence":
        return None
    found: tuple[Literal["NFC", "NFD", "NFKC", "NFKD"], ...] = ()
    for part in spec.get("normalizers") or ():
        forms = _unicode_forms(part) if isinstance(part, dict) else None
        if forms is None:
            return None
        found += forms
    return found


def _tables_no_newer(forms: Sequence[str], hf_normalize: Callable[[str], str]) -> bool:
    import unicodedata

    return all(
        hf_normalize(c) == c
        for c in _NEWER_DECOMPOSABLE
        if all(unicodedata.is_normalized(f, c) for f in forms)  # type: ignore[arg-type]
    )


def serve(
    backend: FastokensBackend,
    added: Sequence[AddedToken],
    *,
    normalizer: dict[str, Any] | None = None,
    metaspace: Metaspace | None = None,
) -> None:
    """Make ``backend`` encode through the Python split; a second call (another rewrite
    of the same file) adds its step to the first's."""
    plan: Plan | None = backend.__dict__.get("segment_plan")
    if plan is None:
        plan = Plan(tuple(added))
    if normalizer is not None:
        plan = replace(plan, normalizer=normalizer)
    if metaspace is not None:
        plan = replace(plan, metaspace=metaspace)
    backend.__dict__["segment_plan"] = plan
    _install(backend, plan)


@dataclass(frozen=True, slots=True)
class _Encoded:
    ids: list[int]


def _install(backend: FastokensBackend, plan: Plan) -> None:
    raw = backend.tokenizer
    normalize = hf_normalizer(plan.normalizer) if plan.normalizer is not None else None
    try:
        split = AddedSplit(plan.added, normalize)
    except ValueError as exc:
        raise BackendRefusedError(f"the added tokens cannot be split in Python: {exc}") from exc
    _check_added(raw, plan.added)
    step = plan.metaspace
    ordinary_ids = raw.encode_ordinary
    # The post-processor's tokens: fastokens runs the file's own, around one sequence.
    prefix, suffix = _probe_frame(raw.encode)

    def ids_of(text: str, skip_special: bool, ordinary: bool) -> list[int]:
        pieces = split.split(text, skip_special=skip_special, ordinary=ordinary)
        if len(pieces) == 1 and pieces[0][1] is None:  # most texts: no added token
            piece, _, at = pieces[0]
            one: list[int] = ordinary_ids(step(piece, at == 0) if step is not None else piece).ids
            return one
        ids: list[int] = []
        for piece, token, at in pieces:
            if token is not None:
                ids.append(token.id)
            else:
                ids += ordinary_ids(step(piece, at == 0) if step is not None else piece).ids
        return ids

    def framed(ids: list[int], add_special_tokens: bool) -> _Encoded:
        return _Encoded([*prefix, *ids, *suffix] if add_special_tokens else ids)

    def encode(text: str, add_special_tokens: bool = False) -> HasIds:
        return framed(ids_of(text, False, False), add_special_tokens)

    def encode_split(text: str, add_special_tokens: bool = False) -> HasIds:
        return framed(ids_of(text, True, False), add_special_tokens)

    def encode_ordinary(text: str) -> HasIds:
        return _Encoded(ids_of(text, False, True))

    def encode_batch(texts: Sequence[str], add_special_tokens: bool = False) -> list[HasIds]:
        return [encode(t, add_special_tokens) for t in texts]

    def encode_batch_split(texts: Sequence[str], add_special_tokens: bool = False) -> list[HasIds]:
        return [encode_split(t, add_special_tokens) for t in texts]

    def encode_batch_flat(
        texts: list[str], add_special_tokens: bool, split_special_tokens: bool
    ) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]:
        from .._flat import flatten_rows

        one = encode_split if split_special_tokens else encode
        return flatten_rows([one(t, add_special_tokens).ids for t in texts])

    def encode_segments(
        segments: Sequence[tuple[str, bool]], add_special_tokens: bool
    ) -> list[int]:
        ids: list[int] = []
        for text, allow_added in segments:
            ids += ids_of(text, False, not allow_added)
        return framed(ids, add_special_tokens).ids

    backend.encode, backend.encode_split = encode, encode_split
    backend.encode_ordinary = encode_ordinary
    backend.encode_batch, backend.encode_batch_split = encode_batch, encode_batch_split
    backend.encode_batch_flat = encode_batch_flat  # type: ignore[method-assign]
    backend.encode_segments = encode_segments  # type: ignore[method-assign]
    backend.text_in = None


def _check_added(raw: Any, added: Sequence[AddedToken]) -> None:
    """Each added token, given to fastokens alone, must come out as its own id."""
    for token in added:
        if not token.content:
            continue
        ids = raw.encode_segments([(token.content, True)]).ids
        if list(ids) != [token.id]:
            raise BackendRefusedError(
                f"fastokens encodes the added token {token.content!r} as {list(ids)}, "
                f"not as its id {token.id}"
            )
