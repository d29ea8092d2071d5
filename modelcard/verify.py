"""``modelcard verify``: check that fastokens gives exactly HF's ids on real text.

For each tokenizer, the reference (HF ``tokenizers``, ``DYN_TOKENIZER=default``) and the
candidate (fastokens, with fallback off so that nothing is quietly served by HF) encode
every text four ways: as is, with ``add_special_tokens`` false and true, and with literal
special-token strings of that tokenizer (its added tokens) inserted into the text, again
with ``add_special_tokens`` false and true. The first variant sees every whole text; the
other three see its first ``VARIANT_CHARS`` characters (all of it with
``variant_chars=None``, ``--full-variants``), because they test what happens at the
edges and around the inserted strings, and HF's speed would otherwise set the run time.
Identical texts are checked once. Any difference in ids is a mismatch, reported with the
tokenizer, the text's source, the first differing token and the text around it.

What is not a mismatch, but is reported:

* a file fastokens refuses to load (``status="refused"``, with fastokens' reason); with
  fallback on, HF serves it;
* an input fastokens loads the file for but fails on (``encode_fallbacks``, counted per
  reason); with fallback on, HF encodes that one call.

Texts come from files: ``.jsonl`` files hold one record per line (a JSON string, a list
of strings, an object with ``text``, or a chat with ``messages``/``conversations``, whose
messages are checked one by one and joined); any other file is one text. Directories
are read recursively. Without texts, a built-in sample of tricky strings is used.

>>> report = verify(["./fixtures/gpt2"])  # doctest: +SKIP
>>> report.ok, report.totals()["mismatches"]  # doctest: +SKIP
(True, 0)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._panic import describe
from .card import ModelCard
from .errors import BackendUnavailableError, EncodeError, ModelCardError

if TYPE_CHECKING:
    from .tokenizer import Tokenizer

__all__ = [
    "Mismatch",
    "Sample",
    "TextsError",
    "TokenizerResult",
    "VerifyReport",
    "builtin_samples",
    "default_shared_dir",
    "find_tokenizers",
    "read_texts",
    "register",
    "verify",
    "verify_model",
]

REFERENCE = "default"
CANDIDATE = "fastokens"
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
#: A batch holds at most this many characters or texts, to bound memory.
_BATCH_CHARS = 4_000_000
_BATCH_TEXTS = 4096
_EXCERPT = 40

Status = Literal["checked", "refused", "error"]


class TextsError(ModelCardError, ValueError):
    """A texts file or corpus for ``verify`` is missing, not UTF-8, or not in a known shape."""


# -- texts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One text to check, and where it came from (``file:line field``)."""

    source: str
    text: str


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TextsError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "verify reads UTF-8 files only: convert it (e.g. with iconv) or leave it out."
        ) from exc


def _content(value: Any) -> str | None:
    """A message's text: a string, or the text parts of an OpenAI-style content list."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [p["text"] for p in value if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "\n".join(parts) if parts else None
    return None


def _chat(where: str, key: str, messages: Any) -> list[Sample]:
    if not isinstance(messages, list):
        raise TextsError(f"{where}: '{key}' must be a list of messages.")
    out: list[Sample] = []
    for i, message in enumerate(messages):
        text = (
            _content(message.get("content", message.get("value")))
            if isinstance(message, dict)
            else None
        )
        if text is not None:
            out.append(Sample(f"{where} {key}[{i}]", text))
    if len(out) > 1:
        out.append(Sample(f"{where} conversation", "\n".join(s.text for s in out)))
    return out


def _record(where: str, record: Any) -> list[Sample]:
    if isinstance(record, str):
        return [Sample(where, record)]
    if isinstance(record, list) and all(isinstance(r, str) for r in record):
        return [Sample(f"{where} [{i}]", r) for i, r in enumerate(record)]
    if isinstance(record, dict):
        if isinstance(record.get("text"), str):
            return [Sample(where, record["text"])]
        for key in ("messages", "conversations"):
            if key in record:
                return _chat(where, key, record[key])
    raise TextsError(
        f"{where}: a record verify does not know. Each line of a .jsonl file must be a JSON "
        "string, a list of strings, or an object with 'text' (a string) or 'messages' "
        "(a list of {'role', 'content'})."
    )


def _jsonl(path: Path, name: str) -> Iterator[Sample]:
    text = _decode(path.read_bytes(), path)
    # JSON Lines are separated by "\n" only: str.splitlines() would also cut at U+2028,
    # U+0085 and other characters that JSON strings may hold raw.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TextsError(
                f"{where} is not valid JSON ({exc.msg}, column {exc.colno}); each line of a "
                ".jsonl file must be one JSON value. Give plain text files another extension."
            ) from None
        yield from _record(where, record)


def _file(path: Path, name: str) -> Iterator[Sample]:
    if path.suffix == ".jsonl":
        yield from _jsonl(path, name)
    else:
        yield Sample(name, _decode(path.read_bytes(), path))


def read_texts(
    paths: Iterable[str | os.PathLike[str]], skipped: list[str] | None = None
) -> list[Sample]:
    """Every text in ``paths`` (files or directories, read recursively, in name order).

    Inside a directory, hidden files are left out, and so are files that are not UTF-8
    (their names are appended to ``skipped`` when given). A named file must be readable.
    """
    samples: list[Sample] = []
    for given in paths:
        root = Path(given)
        if root.is_file():
            samples.extend(_file(root, root.name))
            continue
        if not root.is_dir():
            raise TextsError(f"Texts path {str(root)!r} does not exist. Give files or directories.")
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(root)
            if any(part.startswith(".") for part in relative.parts):
                continue
            name = f"{root.name}/{relative.as_posix()}"
            try:
                samples.extend(_file(path, name))
            except TextsError:
                if path.suffix == ".jsonl":
                    raise
                if skipped is not None:
                    skipped.append(name)
    return samples


_BUILTIN: tuple[tuple[str, str], ...] = (
    ("english", "The quick brown fox jumps over the lazy dog. It's 3:45pm; don't panic!"),
    ("contractions", "I'M sure they'll say we'd've DONE it, but you're wrong isn't it"),
    ("numbers", "1234567890 3.14159 -0.5e-10 1,000,000 ١٢٣ １２３ 𝟏𝟐𝟑"),  # noqa: RUF001 - on purpose
    ("chinese", "我们在北京的天安门广场上看升旗仪式，然后去吃了烤鸭。"),  # noqa: RUF001 - on purpose
    ("japanese", "吾輩は猫である。名前はまだ無い。カタカナとひらがな、ｶﾀｶﾅ。"),
    ("korean", "안녕하세요, 세계! 한국어 텍스트입니다."),
    ("arabic", "مرحبا بالعالم، هذا نص عربي مع أرقام ٣٤٥."),
    ("hebrew", "שָׁלוֹם עוֹלָם"),
    ("hindi", "नमस्ते दुनिया, यह हिंदी पाठ है। क्षत्रिय"),
    ("thai", "สวัสดีชาวโลก ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ"),
    ("russian", "Съешь же ещё этих мягких французских булок, да выпей чаю."),
    ("greek", "Ἐν ἀρχῇ ἦν ὁ λόγος, καὶ ὁ λόγος ἦν πρὸς τὸν θεόν"),
    ("vietnamese", "Tiếng Việt có dấu: người, được, những"),
    ("emoji", "👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇺🇸🇯🇵 🇦 ❤️ 🀄 #️⃣ 🫠"),
    ("combining", "e\u0301 a\u0300\u0316 Z\u0351\u0352\u0353a\u0354\u0355lgo o" + "\u0301" * 50),
    ("zero_width", "zero\u200bwidth\u200djoiner\u200cnon\u2060word\u00adsoft\ufeffbom\u2028ls"),
    ("controls", "nul\x00 bell\x07 esc\x1b del\x7f c1\x85\x92 vt\x0b ff\x0c"),
    ("whitespace_runs", "a  b   c\t\td\n\n\ne \r\n\r\nf \u3000\u00a0g    "),
    ("spaces_1000", " " * 1000 + "word"),
    ("newlines_500", "\n" * 500 + "end"),
    ("tabs_and_indent", "def f(x):\n\tif x:\n\t\treturn x  # tab\n        pass\n"),
    ("code", 'for (int i = 0; i < n; ++i) { s += a[i] * 2; }  // "quoted" <tag/> &amp;'),
    ("json", '{"key": "value\\n\\t\\u00e9", "list": [1, 2.5, null, true]}'),
    ("url", "https://example.com/path?query=a%20b&x=1#frag user@example.org"),
    ("long_word", "x" * 5000),
    ("repeat_run", "ab" * 3000),
    ("private_use", "\ue000\uf8ff\U000f0000\U0010fffd \ufffe\uffff\U0001fffe"),
    ("empty", ""),
)


def builtin_samples() -> list[Sample]:
    """A small built-in sample of tricky strings: scripts, emoji, whitespace runs, controls."""
    return [Sample(f"builtin:{name}", text) for name, text in _BUILTIN]


# -- special-token strings ------------------------------------------------------------


def _special_strings(tokenizer: Tokenizer) -> list[str]:
    """The added tokens of the tokenizer.json (specials first), its named specials and the
    model's ``unk_token``, which need not be an added token but looks like one."""
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


# -- results --------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    """Where the candidate's ids first differ from the reference's on one text."""

    source: str
    variant: str
    position: int
    expected_length: int
    actual_length: int
    expected: list[int]
    actual: list[int]
    expected_tokens: list[str | None]
    actual_tokens: list[str | None]
    char_offset: int
    excerpt: str

    def describe(self) -> str:
        return (
            f"{self.source} [{self.variant}]: first difference at token {self.position} "
            f"(~character {self.char_offset}; {self.expected_length} ids expected, "
            f"{self.actual_length} got)\n"
            f"      expected {self.expected} {self.expected_tokens}\n"
            f"      got      {self.actual} {self.actual_tokens}\n"
            f"      text     {self.excerpt}"
        )


@dataclass
class TokenizerResult:
    """What verify found for one tokenizer."""

    name: str
    model: str
    status: Status = "checked"
    #: Why fastokens refused the file (status "refused"), or why it could not be checked.
    reason: str | None = None
    #: Distinct texts checked (duplicates are checked once).
    texts: int = 0
    #: Encodes per backend: texts times the variants that apply.
    encodes: int = 0
    mismatches: int = 0
    examples: list[Mismatch] = field(default_factory=list)
    #: Inputs fastokens failed on, which HF encodes when fallback is on, by reason.
    encode_fallbacks: Counter[str] = field(default_factory=Counter)
    #: One source per fallback reason, to reproduce it.
    fallback_examples: dict[str, str] = field(default_factory=dict)
    special_strings: int = 0
    #: Texts left out because an identical text was checked already.
    duplicates: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != "error" and self.mismatches == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "status": self.status,
            "reason": self.reason,
            "texts": self.texts,
            "encodes": self.encodes,
            "mismatches": self.mismatches,
            "mismatch_examples": [vars(m) for m in self.examples],
            "encode_fallbacks": sum(self.encode_fallbacks.values()),
            "encode_fallback_reasons": dict(self.encode_fallbacks.most_common()),
            "encode_fallback_examples": self.fallback_examples,
            "special_strings": self.special_strings,
            "duplicates": self.duplicates,
            "seconds": round(self.seconds, 2),
        }


@dataclass
class VerifyReport:
    """Results for every tokenizer, over one set of texts."""

    results: list[TokenizerResult]
    texts: int
    chars: int
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    variant_chars: int | None = VARIANT_CHARS

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def totals(self) -> dict[str, Any]:
        checked = [r for r in self.results if r.status == "checked"]
        return {
            "tokenizers": len(self.results),
            "checked": len(checked),
            "refused": sum(r.status == "refused" for r in self.results),
            "errors": sum(r.status == "error" for r in self.results),
            "texts": self.texts,
            "chars": self.chars,
            "tokenizer_texts": sum(r.texts for r in checked),
            "encodes": sum(r.encodes for r in checked),
            "mismatches": sum(r.mismatches for r in self.results),
            "encode_fallbacks": sum(sum(r.encode_fallbacks.values()) for r in self.results),
            "seconds": round(self.seconds, 1),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reference": "huggingface",
            "candidate": CANDIDATE,
            "variants": [name for name, _, _ in VARIANTS],
            "variant_chars": self.variant_chars,
            "totals": self.totals(),
            "skipped_files": self.skipped,
            "tokenizers": [r.as_dict() for r in self.results],
        }


# -- checking -------------------------------------------------------------------------


def _cards(card: ModelCard) -> tuple[ModelCard, ModelCard]:
    settings = card.model_dump()
    reference = ModelCard(**{**settings, "tokenizer": REFERENCE})
    candidate = ModelCard(**{**settings, "tokenizer": CANDIDATE, "tokenizer_fallback": False})
    return reference, candidate


def _batches(samples: Sequence[Sample]) -> Iterator[Sequence[Sample]]:
    start, chars = 0, 0
    for i, sample in enumerate(samples):
        if i > start and (chars + len(sample.text) > _BATCH_CHARS or i - start >= _BATCH_TEXTS):
            yield samples[start:i]
            start, chars = i, 0
        chars += len(sample.text)
    if start < len(samples):
        yield samples[start:]


def _reason(exc: EncodeError) -> str:
    return describe(exc.__cause__) if exc.__cause__ is not None else str(exc)


def _encode_each(
    tokenizer: Tokenizer, texts: Sequence[str], add: bool
) -> list[list[int] | EncodeError]:
    out: list[list[int] | EncodeError] = []
    for text in texts:
        try:
            out.append(tokenizer.encode(text, add_special_tokens=add))
        except EncodeError as exc:
            out.append(exc)
    return out


def _encode(tokenizer: Tokenizer, texts: Sequence[str], add: bool) -> list[list[int] | EncodeError]:
    """Ids per text, or the EncodeError of each text the tokenizer fails on."""
    try:
        return list(tokenizer.encode_batch(texts, add_special_tokens=add))
    except EncodeError:
        return _encode_each(tokenizer, texts, add)


def _mismatch(
    reference: Tokenizer, sample: Sample, text: str, variant: str, want: list[int], got: list[int]
) -> Mismatch:
    position = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b), None)
    if position is None:
        position = min(len(want), len(got))
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


def _compare_batch(
    result: TokenizerResult,
    reference: Tokenizer,
    candidate: Tokenizer,
    batch: Sequence[Sample],
    texts: Sequence[str],
    variant: str,
    add: bool,
) -> None:
    expected = _encode(reference, texts, add)
    actual = _encode(candidate, texts, add)
    for sample, text, want, got in zip(batch, texts, expected, actual, strict=True):
        result.encodes += 1
        if isinstance(want, EncodeError):
            continue  # HF itself cannot encode it: nothing to compare against
        if isinstance(got, EncodeError):
            reason = _reason(got)
            result.encode_fallbacks[reason] += 1
            result.fallback_examples.setdefault(reason, f"{sample.source} [{variant}]")
            continue
        if want != got:
            result.mismatches += 1
            if len(result.examples) < MAX_EXAMPLES:
                result.examples.append(_mismatch(reference, sample, text, variant, want, got))


def _load_pair(result: TokenizerResult, card: ModelCard) -> tuple[Tokenizer, Tokenizer] | None:
    reference_card, candidate_card = _cards(card)
    try:
        reference = reference_card.load()
    except ModelCardError as exc:
        result.status, result.reason = "error", f"HF tokenizers cannot load it: {exc}"
        return None
    try:
        candidate = candidate_card.load()
    except BackendUnavailableError as exc:
        cause = exc.__cause__
        result.status = "refused"
        result.reason = describe(cause) if cause is not None else _refusal(str(exc))
        return None
    return reference, candidate


def _refusal(message: str) -> str:
    # "fastokens cannot serve the tokenizer.json of X: REASON. Set DYN_..." -> REASON
    head = message.split(". Set DYN_TOKENIZER_FALLBACK", 1)[0]
    return head.split(": ", 1)[1] if ": " in head else head


def _unique(samples: Sequence[Sample]) -> list[Sample]:
    first: dict[str, Sample] = {}
    for sample in samples:
        first.setdefault(sample.text, sample)
    return list(first.values())


def verify_model(
    card: ModelCard | str,
    samples: Sequence[Sample] | None = None,
    *,
    name: str | None = None,
    variant_chars: int | None = VARIANT_CHARS,
) -> TokenizerResult:
    """Compare fastokens' ids with HF's on every sample (built-in ones by default)."""
    if isinstance(card, str):
        card = ModelCard(model=card)
    started = time.perf_counter()
    result = TokenizerResult(name=name or card.model, model=card.model)
    pair = _load_pair(result, card)
    if pair is not None:
        given = builtin_samples() if samples is None else samples
        unique = _unique(given)
        result.texts, result.duplicates = len(unique), len(given) - len(unique)
        _check(result, *pair, unique, variant_chars)
    result.seconds = time.perf_counter() - started
    return result


def _check(
    result: TokenizerResult,
    reference: Tokenizer,
    candidate: Tokenizer,
    samples: Sequence[Sample],
    variant_chars: int | None,
) -> None:
    specials = _special_strings(reference)
    result.special_strings = len(specials)
    for base, batch in _indexed_batches(samples):
        for number, (variant, insert, add) in enumerate(VARIANTS):
            if insert and not specials:
                continue
            texts = [s.text if number == 0 else s.text[:variant_chars] for s in batch]
            if insert:
                texts = [_insert_specials(t, specials, base + i) for i, t in enumerate(texts)]
            _compare_batch(result, reference, candidate, batch, texts, variant, add)


def _indexed_batches(samples: Sequence[Sample]) -> Iterator[tuple[int, Sequence[Sample]]]:
    base = 0
    for batch in _batches(samples):
        yield base, batch
        base += len(batch)


def verify(
    models: Iterable[ModelCard | str],
    samples: Sequence[Sample] | None = None,
    *,
    names: Sequence[str] | None = None,
    progress: Callable[[TokenizerResult], None] | None = None,
    variant_chars: int | None = VARIANT_CHARS,
) -> VerifyReport:
    """Run :func:`verify_model` for each model over the same samples; collect a report."""
    started = time.perf_counter()
    samples = builtin_samples() if samples is None else samples
    results = []
    for i, model in enumerate(models):
        name = names[i] if names else None
        result = verify_model(model, samples, name=name, variant_chars=variant_chars)
        if progress is not None:
            progress(result)
        results.append(result)
    return VerifyReport(
        results=results,
        texts=len(samples),
        chars=sum(len(s.text) for s in samples),
        seconds=time.perf_counter() - started,
        variant_chars=variant_chars,
    )


def find_tokenizers(corpus: str | os.PathLike[str]) -> list[Path]:
    """Every directory under ``corpus`` (itself included) that holds a tokenizer.json."""
    root = Path(corpus)
    if not root.is_dir():
        raise TextsError(f"Corpus {str(root)!r} is not a directory of tokenizer folders.")
    return sorted(p.parent for p in root.rglob("tokenizer.json") if p.is_file())


def default_shared_dir() -> Path:
    """``$MODELCARD_SHARED``, or ``../shared`` beside the source checkout."""
    configured = os.environ.get("MODELCARD_SHARED")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent.parent / "shared"


# -- the command ----------------------------------------------------------------------


def _result_line(result: TokenizerResult, width: int) -> str:
    head = f"{result.name:<{width}}  "
    if result.status == "refused":
        return head + f"fallback  fastokens refuses this file ({result.reason}); HF serves it"
    if result.status == "error":
        return head + f"ERROR     {result.reason}"
    fallbacks = sum(result.encode_fallbacks.values())
    verdict = "ok      " if result.mismatches == 0 else "MISMATCH"
    line = (
        head + f"{verdict}  {result.texts:,} texts, {result.encodes:,} encodes, "
        f"{result.mismatches} mismatches, {fallbacks} encode fallbacks  ({result.seconds:.1f}s)"
    )
    for mismatch in result.examples:
        line += "\n    " + mismatch.describe()
    if result.mismatches > len(result.examples):
        line += f"\n    ... and {result.mismatches - len(result.examples)} more mismatches"
    reasons = result.encode_fallbacks.most_common()
    for reason, count in reasons[:5]:
        line += (
            f"\n    encode fallback x{count}: {reason} (e.g. {result.fallback_examples[reason]})"
        )
    if len(reasons) > 5:
        line += f"\n    ... and {len(reasons) - 5} more fallback reasons (--json lists them all)"
    return line


def _totals_line(report: VerifyReport) -> str:
    t = report.totals()
    return (
        f"{t['checked']} tokenizers x {t['texts']:,} texts ({t['chars']:,} characters) checked "
        f"({t['tokenizer_texts']:,} distinct tokenizer-text pairs), "
        f"{t['encodes']:,} encodes per backend: {t['mismatches']} mismatches, "
        f"{t['encode_fallbacks']} encode fallbacks, {t['refused']} refused by fastokens "
        f"(fallback), {t['errors']} errors, {t['seconds']}s. " + ("OK" if report.ok else "FAILED")
    )


def _targets(args: argparse.Namespace) -> tuple[list[ModelCard], list[str], bool]:
    """The cards to check, their display names, and whether this is corpus mode."""
    from .cli import card_from_args

    given = {name: getattr(args, name) for name in ModelCard.model_fields if hasattr(args, name)}
    if args.corpus is None and ("model" in given or os.environ.get("DYN_MODEL")):
        card = card_from_args(args)
        return [card], [card.model], False
    if "model" in given:
        raise argparse.ArgumentTypeError("--model and --corpus exclude each other; give one.")
    corpus = Path(args.corpus) if args.corpus else default_shared_dir() / "tokenizers"
    if args.corpus and not corpus.is_dir():
        raise argparse.ArgumentTypeError(
            f"corpus {str(corpus)!r} is not a directory; give a directory whose subfolders "
            "hold tokenizer.json files."
        )
    if not corpus.is_dir():
        raise argparse.ArgumentTypeError(
            f"no model given and no corpus at {str(corpus)!r}: give --model M (or set "
            "DYN_MODEL) to check your model, or --corpus DIR for a directory of tokenizer folders."
        )
    given.pop("model", None)
    folders = find_tokenizers(corpus)
    if not folders:
        raise argparse.ArgumentTypeError(f"no */tokenizer.json under {str(corpus)!r}.")
    cards = [ModelCard(**given, model=str(folder.resolve())) for folder in folders]
    return cards, [str(folder.relative_to(corpus)) for folder in folders], True


def _samples(args: argparse.Namespace, corpus_mode: bool, skipped: list[str]) -> list[Sample]:
    if args.texts:
        return read_texts(args.texts, skipped)
    shared_texts = default_shared_dir() / "texts"
    if corpus_mode and shared_texts.is_dir():
        return read_texts([shared_texts], skipped)
    return builtin_samples()


def _run(args: argparse.Namespace) -> int:
    skipped: list[str] = []
    try:
        cards, names, corpus_mode = _targets(args)
        samples = _samples(args, corpus_mode, skipped)
    except (argparse.ArgumentTypeError, TextsError) as exc:
        sys.stderr.write(f"modelcard: error: {exc}\n")
        return 2
    width = max(len(n) for n in names)

    def show(result: TokenizerResult) -> None:
        if not args.json:
            sys.stdout.write(_result_line(result, width) + "\n")
            sys.stdout.flush()

    variant_chars = None if args.full_variants else VARIANT_CHARS
    if not args.json:
        scope = "whole texts" if variant_chars is None else f"first {variant_chars} characters"
        sys.stdout.write(
            f"verify: {CANDIDATE} vs HF tokenizers on {len(samples):,} texts, variants "
            f"{', '.join(v for v, _, _ in VARIANTS)} (all but the first on {scope})\n"
        )
    report = verify(cards, samples, names=names, progress=show, variant_chars=variant_chars)
    report.skipped = skipped
    if args.json:
        sys.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False) + "\n")
    else:
        if skipped:
            sys.stdout.write(f"skipped {len(skipped)} files that are not UTF-8 text\n")
        sys.stdout.write(_totals_line(report) + "\n")
    return 0 if report.ok else 1


def register(commands: Any, card_arguments: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``modelcard verify`` to the command's subparsers."""
    parser = commands.add_parser(
        "verify",
        help="check that fastokens gives HF's ids on your texts",
        description=(
            "Encode texts with fastokens (fallback off) and with HF tokenizers, with "
            "add_special_tokens false and true and with the tokenizer's special-token "
            "strings inserted, and report every difference. Exit 1 on any mismatch, 2 on "
            "bad arguments. --tokenizer and --tokenizer-fallback are ignored: verify always "
            "compares fastokens (fallback off) against HF; the other card settings apply "
            "to both, e.g. --tokenizer-cache-bytes to check with the segment cache on."
        ),
    )
    parser.add_argument(
        "--texts",
        nargs="+",
        metavar="PATH",
        help=(
            "text files (.jsonl: one JSON string, list, {'text'} or {'messages'} per line; "
            "anything else: one text) or directories of them; default: a built-in sample "
            "of tricky strings, or in corpus mode $MODELCARD_SHARED/texts (else "
            "../shared/texts) when it exists"
        ),
    )
    parser.add_argument(
        "--corpus",
        nargs="?",
        const="",
        metavar="DIR",
        help=(
            "check every folder with a tokenizer.json under DIR instead of one model "
            "(default DIR: $MODELCARD_SHARED/tokenizers, else ../shared/tokenizers)"
        ),
    )
    parser.add_argument(
        "--full-variants",
        action="store_true",
        help=(
            f"run every variant on whole texts (default: only the plain one; the others "
            f"check the first {VARIANT_CHARS} characters), about twice as slow"
        ),
    )
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    card_arguments(parser)
    parser.set_defaults(run=_run)
