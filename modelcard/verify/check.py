"""Check one backend against another on real text: encode, decode and stream.

For each tokenizer, the candidate (by default the fastest backend, loaded with fallback
off so nothing is quietly served by its reference) and the reference (by default the
file's reference, HF ``tokenizers`` for tokenizer.json) are compared:

* **encode**, four ways: as is, with ``add_special_tokens`` false and true, and with
  literal special-token strings of that tokenizer inserted, again both ways. The first
  variant sees every whole text; the other three see its first ``VARIANT_CHARS``
  characters (all of it with ``variant_chars=None``), because they test what happens at
  the edges and around the inserted strings, and the reference's speed would otherwise
  set the run time;
* **decode**: the reference's ids of the plain variant and of the last one (inserted
  special tokens and the post-processor's), with ``skip_special_tokens`` false and true,
  and random id sequences that include ids past the vocabulary;
* **stream**: every ``STREAM_EVERY``-th text's ids (every text with
  ``variant_chars=None``), after a prompt of its first third, chunk by chunk.

Identical texts are checked once. What is not a mismatch, but is reported: a file the
candidate refuses (``status="refused"``), and inputs it fails on (``encode_fallbacks``,
which its reference serves when fallback is on).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .. import backends
from .._translate import describe
from ..card import ModelCard
from ..errors import BackendUnavailableError, EncodeError, ModelCardError
from ..sources import resolve
from .results import Kind, Mismatch, TokenizerResult, VerifyReport
from .texts import Sample, builtin_samples

if TYPE_CHECKING:
    from ..tokenizer import Tokenizer

__all__ = [
    "MAX_EXAMPLES",
    "STREAM_EVERY",
    "VARIANTS",
    "VARIANT_CHARS",
    "default_candidate",
    "default_reference",
    "verify",
    "verify_model",
]

#: (name, insert special-token strings, add_special_tokens), in the order they are run.
VARIANTS: tuple[tuple[str, bool, bool], ...] = (
    ("plain", False, False),
    ("add_special_tokens", False, True),
    ("special_strings", True, False),
    ("special_strings+add_special_tokens", True, True),
)
#: Variants other than the first check this many leading characters of each text.
VARIANT_CHARS = 2048
#: Details are kept for this many mismatches per tokenizer; all are counted.
MAX_EXAMPLES = 20
#: One text in this many is also streamed (all of them with variant_chars=None).
STREAM_EVERY = 8
#: A stream covers at most this many ids of its text.
STREAM_IDS = 512
#: Random id sequences decoded per tokenizer.
RANDOM_SEQUENCES = 64
#: The variants whose ids are decoded too: whole texts, and special ids with BOS/EOS.
_DECODED_VARIANTS = ("plain", "special_strings+add_special_tokens")
#: A batch holds at most this many characters or texts, to bound memory.
_BATCH_CHARS = 4_000_000
_BATCH_TEXTS = 4096
_EXCERPT = 40


def default_candidate() -> str:
    """The backend checked when none is named: the one ``auto`` tries first."""
    return backends.fastest(backends.TOKENIZER_JSON)


def default_reference() -> str:
    """The backend checked against when none is named: tokenizer.json's reference."""
    return backends.REFERENCES[backends.TOKENIZER_JSON]


# -- special-token strings ------------------------------------------------------------


def _special_strings(tokenizer: Tokenizer) -> list[str]:
    """The added tokens of the tokenizer.json (specials first), its named specials and the
    model's ``unk_token``, which need not be an added token but looks like one."""
    tiktoken = tokenizer.form_details.get("tiktoken")
    if tiktoken is not None:
        strings = [*tiktoken["special_tokens"], *tokenizer.special_tokens.values()]
        return [s for s in dict.fromkeys(strings) if s]
    raw = tokenizer.source.tokenizer_json.read_bytes()
    document = json.loads(raw.decode("utf-8-sig"))
    added = document.get("added_tokens") or []
    ordered = sorted(
        (t for t in added if isinstance(t, dict) and isinstance(t.get("content"), str)),
        key=lambda t: (not t.get("special", False), t.get("id", 0)),
    )
    strings = [t["content"] for t in ordered]
    strings += list(tokenizer.special_tokens.values())
    model = document.get("model")
    if isinstance(model, dict) and isinstance(model.get("unk_token"), str):
        strings.append(model["unk_token"])
    return [s for s in dict.fromkeys(strings) if s]


def _insert_specials(text: str, specials: Sequence[str], index: int) -> str:
    """``text`` with special-token strings at its start, middle, end and beside spaces.

    Successive texts get successive tokens, so a corpus exercises all of them.
    """
    n = len(specials)
    a, b, c = (specials[(3 * index + k) % n] for k in range(3))
    middle = len(text) // 2
    space = text.find(" ", middle, middle + 32)
    cut = space if space >= 0 else middle
    return f"{a}{text[:cut]}{b}{text[cut:]} {c} {a}{b}\n"


# -- one tokenizer --------------------------------------------------------------------


class _Pair:
    """The reference and the candidate tokenizer, and what is found comparing them."""

    def __init__(self, result: TokenizerResult, reference: Tokenizer, candidate: Tokenizer):
        self.result = result
        self.reference = reference
        self.candidate = candidate

    def keep(self, mismatch: Callable[..., Mismatch], *args: Any) -> None:
        """Keep the details of a mismatch, built only while there is room for them."""
        if len(self.result.examples) < MAX_EXAMPLES:
            self.result.examples.append(mismatch(*args))

    # -- encode

    def compare_encodes(
        self, batch: Sequence[Sample], texts: Sequence[str], variant: str, add: bool
    ) -> list[list[int] | None]:
        """Compare ids; return the reference's ids per text (None where it failed)."""
        result = self.result
        expected = _encode(self.reference, texts, add)
        actual = _encode(self.candidate, texts, add)
        kept: list[list[int] | None] = []
        for sample, text, want, got in zip(batch, texts, expected, actual, strict=True):
            result.encodes += 1
            if isinstance(want, EncodeError):
                kept.append(None)  # the reference itself cannot encode it
                continue
            kept.append(want)
            if isinstance(got, EncodeError):
                reason = _reason(got)
                result.encode_fallbacks[reason] += 1
                result.fallback_examples.setdefault(reason, f"{sample.source} [{variant}]")
                continue
            if want != got:
                result.encode_mismatches += 1
                self.keep(self._encode_mismatch, sample, text, variant, want, got)
        return kept

    def _encode_mismatch(
        self, sample: Sample, text: str, variant: str, want: list[int], got: list[int]
    ) -> Mismatch:
        reference = self.reference
        position = next(
            (i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b),
            min(len(want), len(got)),
        )
        window = slice(max(position - 2, 0), position + 6)
        offset = len(reference.decode(want[:position]))
        excerpt = text[max(offset - _EXCERPT, 0) : offset + _EXCERPT]
        return Mismatch(
            source=sample.source,
            variant=variant,
            position=position,
            expected_length=len(want),
            actual_length=len(got),
            expected=want[window],
            actual=got[window],
            expected_tokens=[reference.id_to_token(i) for i in want[window]],
            actual_tokens=[reference.id_to_token(i) for i in got[window]],
            char_offset=offset,
            excerpt=repr(excerpt),
        )

    # -- decode

    def compare_decodes(self, sources: Sequence[str], rows: Sequence[list[int]]) -> None:
        for skip in (False, True):
            want = _decode(self.reference, rows, skip)
            got = _decode(self.candidate, rows, skip)
            variant = f"skip_special_tokens={skip}"
            for source, ids, a, b in zip(sources, rows, want, got, strict=True):
                self.result.decodes += 1
                if a != b:
                    self.result.decode_mismatches += 1
                    self.keep(_text_mismatch, "decode", source, variant, ids, a, b)

    def compare_random_decodes(self, seed: str) -> None:
        rng = random.Random(seed)
        # Ids up to a little past the vocabulary: padded embedding rows must add no text.
        top = self.reference.vocab_size + 64
        rows = [
            [rng.randrange(top) for _ in range(rng.randint(1, 48))] for _ in range(RANDOM_SEQUENCES)
        ]
        self.compare_decodes([f"random:{i}" for i in range(len(rows))], rows)

    # -- stream

    def compare_stream(self, source: str, ids: list[int]) -> None:
        ids = ids[:STREAM_IDS]
        cut = len(ids) // 3
        for skip in (False, True):
            want = _stream(self.reference, ids[:cut], ids[cut:], skip)
            got = _stream(self.candidate, ids[:cut], ids[cut:], skip)
            self.result.streams += 1
            if want != got:
                self.result.stream_mismatches += 1
                variant = f"prompt={cut} ids, skip_special_tokens={skip}"
                self.keep(_stream_mismatch, source, variant, ids, want, got)


def _text_mismatch(
    kind: Kind, source: str, variant: str, ids: list[int], a: str, b: str
) -> Mismatch:
    at = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    window = slice(max(at - _EXCERPT, 0), at + _EXCERPT)
    return Mismatch(
        source=source,
        variant=variant,
        position=at,
        expected_length=len(a),
        actual_length=len(b),
        expected=ids[:16],
        actual=ids[:16],
        expected_tokens=[],
        actual_tokens=[],
        char_offset=at,
        excerpt=repr(a[window]),
        kind=kind,
        expected_text=repr(a[window]),
        actual_text=repr(b[window]),
    )


def _stream_mismatch(
    source: str, variant: str, ids: list[int], want: list[str | None], got: list[str | None]
) -> Mismatch:
    at = next(
        (i for i, (x, y) in enumerate(zip(want, got, strict=False)) if x != y),
        min(len(want), len(got)),
    )
    window = slice(max(at - 3, 0), at + 3)
    return Mismatch(
        source=source,
        variant=variant,
        position=at,
        expected_length=len(want),
        actual_length=len(got),
        expected=ids[max(at - 3, 0) : at + 3],
        actual=ids[max(at - 3, 0) : at + 3],
        expected_tokens=[],
        actual_tokens=[],
        char_offset=at,
        excerpt="",
        kind="stream",
        expected_text=repr(want[window]),
        actual_text=repr(got[window]),
    )


def _reason(exc: EncodeError) -> str:
    return describe(exc.__cause__) if exc.__cause__ is not None else str(exc)


def _encode(tokenizer: Tokenizer, texts: Sequence[str], add: bool) -> list[list[int] | EncodeError]:
    """Ids per text, or the EncodeError of each text the tokenizer fails on."""
    try:
        return list(tokenizer.encode_batch(texts, add_special_tokens=add))
    except EncodeError:
        out: list[list[int] | EncodeError] = []
        for text in texts:
            try:
                out.append(tokenizer.encode(text, add_special_tokens=add))
            except EncodeError as exc:
                out.append(exc)
        return out


def _decode(tokenizer: Tokenizer, rows: Sequence[list[int]], skip: bool) -> list[str]:
    try:
        return tokenizer.decode_batch(rows, skip_special_tokens=skip)
    except ModelCardError:
        out = []
        for row in rows:
            try:
                out.append(tokenizer.decode(row, skip_special_tokens=skip))
            except ModelCardError as exc:
                out.append(f"<{type(exc).__name__}: {exc}>")
        return out


def _stream(
    tokenizer: Tokenizer, prompt: list[int], continuation: list[int], skip: bool
) -> list[str | None]:
    try:
        stream = tokenizer.decode_stream(prompt_ids=prompt, skip_special_tokens=skip)
        return [stream.step(i) for i in continuation]
    except ModelCardError as exc:
        return [f"<{type(exc).__name__}: {exc}>"]


def _cards(card: ModelCard, candidate: str, reference: str) -> tuple[ModelCard, ModelCard]:
    settings = card.model_dump()
    strict = {"tokenizer_fallback": False, "decoder": backends.AUTO}
    return (
        ModelCard(**{**settings, **strict, "tokenizer": reference}),
        ModelCard(**{**settings, **strict, "tokenizer": candidate}),
    )


def _common_reference(results: Sequence[TokenizerResult], reference: str) -> str:
    used = {r.reference for r in results}
    return used.pop() if len(used) == 1 else reference


def _form_reference(card: ModelCard, reference: str) -> str:
    """The reference of the card's file form, where ``reference`` is tokenizer.json's (it
    cannot load another form): the tiktoken library for a tiktoken ranks file."""
    if reference != default_reference():
        return reference
    try:
        form = resolve(card.model, revision=card.revision, hub_timeout=card.hub_timeout).form
    except ModelCardError:
        return reference  # the load reports it
    return backends.REFERENCES.get(form, reference)


def _load_pair(
    result: TokenizerResult, card: ModelCard, candidate: str, reference: str
) -> _Pair | None:
    reference_card, candidate_card = _cards(card, candidate, reference)
    try:
        loaded_reference = reference_card.load()
    except ModelCardError as exc:
        result.status, result.reason = "error", f"{reference} cannot load it: {exc}"
        return None
    try:
        loaded_candidate = candidate_card.load()
    except BackendUnavailableError as exc:
        result.status, result.reason = "refused", exc.reason or str(exc)
        return None
    except ModelCardError as exc:
        result.status, result.reason = "error", f"{candidate} cannot load it: {exc}"
        return None
    return _Pair(result, loaded_reference, loaded_candidate)


def _unique(samples: Sequence[Sample]) -> list[Sample]:
    first: dict[str, Sample] = {}
    for sample in samples:
        first.setdefault(sample.text, sample)
    return list(first.values())


def _batches(samples: Sequence[Sample]) -> Iterator[tuple[int, Sequence[Sample]]]:
    """Batches of bounded size, with the index of each batch's first sample."""
    start, chars = 0, 0
    for i, sample in enumerate(samples):
        if i > start and (chars + len(sample.text) > _BATCH_CHARS or i - start >= _BATCH_TEXTS):
            yield start, samples[start:i]
            start, chars = i, 0
        chars += len(sample.text)
    if start < len(samples):
        yield start, samples[start:]


def _check(
    pair: _Pair,
    samples: Sequence[Sample],
    variant_chars: int | None,
    texts_done: Callable[[int], object] | None,
) -> None:
    specials = _special_strings(pair.reference)
    pair.result.special_strings = len(specials)
    stream_every = 1 if variant_chars is None else STREAM_EVERY
    for base, batch in _batches(samples):
        for number, (variant, insert, add) in enumerate(VARIANTS):
            if insert and not specials:
                continue
            texts = [s.text if number == 0 else s.text[:variant_chars] for s in batch]
            if insert:
                texts = [_insert_specials(t, specials, base + i) for i, t in enumerate(texts)]
            kept = pair.compare_encodes(batch, texts, variant, add)
            good = [(f"{s.source} [{variant}]", ids) for s, ids in zip(batch, kept, strict=True)]
            if variant in _DECODED_VARIANTS:
                rows = [(source, ids) for source, ids in good if ids is not None]
                pair.compare_decodes([s for s, _ in rows], [ids for _, ids in rows])
            if number == 0:
                for i, (source, ids) in enumerate(good):
                    if ids is not None and (base + i) % stream_every == 0:
                        pair.compare_stream(source, ids)
        if texts_done is not None:
            texts_done(len(batch))
    # Seeded by the vocabulary, not the path: the same file gets the same ids anywhere.
    pair.compare_random_decodes(f"random-decodes:{pair.reference.vocab_size}")


def verify_model(
    card: ModelCard | str,
    samples: Sequence[Sample] | None = None,
    *,
    name: str | None = None,
    variant_chars: int | None = VARIANT_CHARS,
    candidate: str | None = None,
    reference: str | None = None,
    texts_done: Callable[[int], object] | None = None,
) -> TokenizerResult:
    """Compare ``candidate``'s encode, decode and stream with ``reference``'s on every sample
    (built-in ones by default). Backends are named as in ``DYN_TOKENIZER``.

    ``texts_done(n)`` is called as texts are checked (duplicates and texts of a tokenizer
    that could not be checked count as done), for a progress display.
    """
    if isinstance(card, str):
        card = ModelCard(model=card)
    candidate = backends.canonical(candidate or default_candidate(), auto=False)
    reference = backends.canonical(reference or default_reference(), auto=False)
    reference = _form_reference(card, reference)
    started = time.perf_counter()
    result = TokenizerResult(
        name=name or card.model, model=card.model, candidate=candidate, reference=reference
    )
    pair = _load_pair(result, card, candidate, reference)
    given = builtin_samples() if samples is None else samples
    if pair is not None:
        unique = _unique(given)
        result.texts, result.duplicates = len(unique), len(given) - len(unique)
        if texts_done is not None:
            texts_done(result.duplicates)
        _check(pair, unique, variant_chars, texts_done)
    elif texts_done is not None:
        texts_done(len(given))
    result.seconds = time.perf_counter() - started
    return result


def verify(
    models: Iterable[ModelCard | str],
    samples: Sequence[Sample] | None = None,
    *,
    names: Sequence[str] | None = None,
    progress: Callable[[TokenizerResult], None] | None = None,
    texts_done: Callable[[int], object] | None = None,
    variant_chars: int | None = VARIANT_CHARS,
    candidate: str | None = None,
    reference: str | None = None,
) -> VerifyReport:
    """Run :func:`verify_model` for each model over the same samples; collect a report."""
    started = time.perf_counter()
    samples = builtin_samples() if samples is None else samples
    candidate = backends.canonical(candidate or default_candidate(), auto=False)
    reference = backends.canonical(reference or default_reference(), auto=False)
    results = []
    for i, model in enumerate(models):
        result = verify_model(
            model,
            samples,
            name=names[i] if names else None,
            variant_chars=variant_chars,
            candidate=candidate,
            reference=reference,
            texts_done=texts_done,
        )
        if progress is not None:
            progress(result)
        results.append(result)
    return VerifyReport(
        results=results,
        texts=len(samples),
        chars=sum(len(s.text) for s in samples),
        candidate=candidate,
        # A tiktoken card is checked against its own form's reference.
        reference=_common_reference(results, reference),
        seconds=time.perf_counter() - started,
        variant_chars=variant_chars,
        variants=[name for name, _, _ in VARIANTS],
    )
