"""What ``verify`` found: mismatches with their place, per tokenizer and in total."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Mismatch", "Status", "TokenizerResult", "VerifyReport"]

Status = Literal["checked", "refused", "error"]
Kind = Literal["encode", "decode", "stream"]


@dataclass(frozen=True)
class Mismatch:
    """Where the candidate first differs from the reference on one text.

    For ``kind="encode"`` the ids are compared; for ``decode`` and ``stream`` the text
    (``expected_text``/``actual_text`` hold the part around the first difference).
    """

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
    kind: Kind = "encode"
    expected_text: str | None = None
    actual_text: str | None = None

    def describe(self) -> str:
        if self.kind != "encode":
            what = "stream chunk" if self.kind == "stream" else "character"
            return (
                f"{self.source} [{self.variant}] {self.kind}: first difference at {what} "
                f"{self.position} ({self.expected_length} expected, {self.actual_length} got)\n"
                f"      expected {self.expected_text}\n"
                f"      got      {self.actual_text}\n"
                f"      ids      {self.expected}"
            )
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
    #: Why the candidate refused the file (status "refused"), or why it could not be checked.
    reason: str | None = None
    #: The backend checked, and the one it was checked against.
    candidate: str = ""
    reference: str = ""
    #: Distinct texts checked (duplicates are checked once).
    texts: int = 0
    #: Encodes per backend: texts times the variants that apply.
    encodes: int = 0
    #: Decodes per backend: the reference's ids of every encode, both skip_special_tokens
    #: values, plus random id sequences (ids past the vocabulary included).
    decodes: int = 0
    #: Decode streams per backend.
    streams: int = 0
    encode_mismatches: int = 0
    decode_mismatches: int = 0
    stream_mismatches: int = 0
    examples: list[Mismatch] = field(default_factory=list)
    #: Inputs the candidate failed on, which its reference encodes when fallback is on.
    encode_fallbacks: Counter[str] = field(default_factory=Counter)
    #: One source per fallback reason, to reproduce it.
    fallback_examples: dict[str, str] = field(default_factory=dict)
    special_strings: int = 0
    #: Texts left out because an identical text was checked already.
    duplicates: int = 0
    #: Texts left out because reading them failed (``on_error="skip"``).
    skipped: int = 0
    seconds: float = 0.0

    @property
    def mismatches(self) -> int:
        return self.encode_mismatches + self.decode_mismatches + self.stream_mismatches

    @property
    def ok(self) -> bool:
        return self.status != "error" and self.mismatches == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "status": self.status,
            "reason": self.reason,
            "candidate": self.candidate,
            "reference": self.reference,
            "texts": self.texts,
            "encodes": self.encodes,
            "decodes": self.decodes,
            "streams": self.streams,
            "mismatches": self.mismatches,
            "encode_mismatches": self.encode_mismatches,
            "decode_mismatches": self.decode_mismatches,
            "stream_mismatches": self.stream_mismatches,
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
    candidate: str = ""
    reference: str = ""
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    variant_chars: int | None = None
    variants: list[str] = field(default_factory=list)

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
            "decodes": sum(r.decodes for r in checked),
            "streams": sum(r.streams for r in checked),
            "mismatches": sum(r.mismatches for r in self.results),
            "encode_mismatches": sum(r.encode_mismatches for r in self.results),
            "decode_mismatches": sum(r.decode_mismatches for r in self.results),
            "stream_mismatches": sum(r.stream_mismatches for r in self.results),
            "encode_fallbacks": sum(sum(r.encode_fallbacks.values()) for r in self.results),
            "seconds": round(self.seconds, 1),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reference": self.reference,
            "candidate": self.candidate,
            "variants": self.variants,
            "variant_chars": self.variant_chars,
            "totals": self.totals(),
            "skipped_files": self.skipped,
            "tokenizers": [r.as_dict() for r in self.results],
        }
