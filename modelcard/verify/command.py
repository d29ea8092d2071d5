"""``modelcard verify``: the command around :func:`modelcard.verify.verify`.

Registered through ``modelcard.cli.COMMAND_MODULES``; it prints, the library does not.
The progress bar goes to stderr (on a terminal, or with ``--progress``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from .. import backends
from ..card import ModelCard
from ..cli import Command, UsageError, card_command
from .check import VARIANT_CHARS, VARIANTS, default_candidate, default_reference, verify
from .results import TokenizerResult, VerifyReport
from .texts import Sample, builtin_samples, default_shared_dir, find_tokenizers, read_texts

__all__ = ["COMMANDS", "VerifyCommand"]


def _result_line(result: TokenizerResult, width: int) -> str:
    head = f"{result.name:<{width}}  "
    if result.status == "refused":
        return head + (
            f"fallback  {result.candidate} refuses this file ({result.reason}); "
            f"{result.reference} serves it"
        )
    if result.status == "error":
        return head + f"ERROR     {result.reason}"
    fallbacks = sum(result.encode_fallbacks.values())
    verdict = "ok      " if result.mismatches == 0 else "MISMATCH"
    line = (
        head + f"{verdict}  {result.texts:,} texts, {result.encodes:,} encodes, "
        f"{result.decodes:,} decodes, {result.streams:,} streams: "
        f"{result.encode_mismatches}/{result.decode_mismatches}/{result.stream_mismatches} "
        f"mismatches, {fallbacks} encode fallbacks  ({result.seconds:.1f}s)"
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
        f"{t['encodes']:,} encodes, {t['decodes']:,} decodes, {t['streams']:,} streams per "
        f"backend: {t['encode_mismatches']} encode, {t['decode_mismatches']} decode and "
        f"{t['stream_mismatches']} stream mismatches, {t['encode_fallbacks']} encode "
        f"fallbacks, {t['refused']} refused by {report.candidate} (fallback), "
        f"{t['errors']} errors, {t['seconds']}s. " + ("OK" if report.ok else "FAILED")
    )


def _backend_name(value: str) -> str:
    try:
        return backends.canonical(value, auto=False)
    except backends.UnknownBackendError as exc:
        raise UsageError(
            f"{exc} Registered backends: {backends.describe_choices(auto=False)}"
        ) from None


@card_command
class VerifyCommand(Command):
    """Check one backend against another (fastokens vs HF by default) on your texts.

    Encode texts with --backend (fallback off) and with --reference, with
    add_special_tokens false and true and with the tokenizer's special-token strings
    inserted; decode the reference's ids with both; stream a sample; report every
    difference. Exit 1 on any mismatch. --tokenizer, --decoder and --tokenizer-fallback
    are ignored; the other card settings apply to both (e.g. --tokenizer-cache-bytes).
    """

    backend: str = Field(default_factory=default_candidate, description="the backend to check")
    reference: str = Field(
        default_factory=default_reference,
        description="the backend to check against; 'transformers' shows where "
        "transformers' AutoTokenizer differs",
    )
    texts: list[Path] | None = Field(
        default=None,
        description="text files (.jsonl: a JSON string, list, {'text'} or {'messages'} per "
        "line; anything else: one text) or directories of them, repeated or comma-separated; "
        "default: a built-in sample of tricky strings, or in corpus mode "
        "$MODELCARD_SHARED/texts (else ../shared/texts) when it exists",
    )
    corpus: Path | None = Field(
        default=None,
        description="check every folder with a tokenizer.json under this directory instead of "
        "one model (without --model or DYN_MODEL: $MODELCARD_SHARED/tokenizers, else "
        "../shared/tokenizers)",
    )
    full_variants: bool = Field(
        default=False,
        description=f"run every variant on whole texts and stream every text (default: the "
        f"variants after the first check the first {VARIANT_CHARS} characters)",
    )
    on_error: Literal["fail", "skip"] = Field(
        default="fail",
        description="a texts line or file that cannot be read: 'fail' stops naming it; 'skip' "
        "leaves it out and lists it at the end",
    )
    progress: bool | None = Field(
        default=None, description="a progress bar on stderr; default: when stderr is a terminal"
    )
    json_output: bool = Field(default=False, alias="json", description="machine-readable report")

    def _targets(self) -> tuple[list[ModelCard], list[str], bool]:
        """The cards to check, their display names, and whether this is corpus mode."""
        given_model = "model" in self.model_fields_set
        if self.corpus is None and (given_model or os.environ.get("DYN_MODEL")):
            card = self.card()
            return [card], [card.model], False
        if given_model:
            raise UsageError("--model and --corpus exclude each other; give one")
        corpus = self.corpus or default_shared_dir() / "tokenizers"
        if self.corpus is not None and not corpus.is_dir():
            raise UsageError(
                f"corpus {str(corpus)!r} is not a directory; give a directory whose subfolders "
                "hold tokenizer.json files"
            )
        if not corpus.is_dir():
            raise UsageError(
                f"no model given and no corpus at {str(corpus)!r}: give --model M (or set "
                "DYN_MODEL) to check your model, or --corpus DIR for a directory of tokenizer "
                "folders"
            )
        folders = find_tokenizers(corpus)
        if not folders:
            raise UsageError(f"no */tokenizer.json under {str(corpus)!r}")
        cards = [self.card(model=str(folder.resolve())) for folder in folders]
        return cards, [str(folder.relative_to(corpus)) for folder in folders], True

    def _samples(self, corpus_mode: bool, skipped: list[str]) -> list[Sample]:
        missing = [str(p) for p in self.texts or () if not p.exists()]
        if missing and self.on_error == "fail":
            raise UsageError(f"--texts {missing[0]!r} does not exist; give files or directories")
        if self.texts:
            return read_texts(self.texts, skipped, on_error=self.on_error)
        shared_texts = default_shared_dir() / "texts"
        if corpus_mode and shared_texts.is_dir():
            return read_texts([shared_texts], skipped, on_error=self.on_error)
        return builtin_samples()

    def run(self) -> int:
        candidate, reference = _backend_name(self.backend), _backend_name(self.reference)
        cards, names, corpus_mode = self._targets()
        skipped: list[str] = []
        samples = self._samples(corpus_mode, skipped)
        width = max(len(n) for n in names)
        bar = _bar(self.progress, len(cards) * len(samples))

        def show(result: TokenizerResult) -> None:
            if not self.json_output:
                line = _result_line(result, width) + "\n"
                if bar is not None:
                    bar.write(line.rstrip("\n"), file=sys.stdout)
                else:
                    sys.stdout.write(line)
                    sys.stdout.flush()

        variant_chars = None if self.full_variants else VARIANT_CHARS
        if not self.json_output:
            scope = "whole texts" if variant_chars is None else f"first {variant_chars} characters"
            sys.stdout.write(
                f"verify: {candidate} vs {_shown_reference(reference)} on {len(samples):,} "
                "texts (encode, "
                f"decode, stream), variants {', '.join(v for v, _, _ in VARIANTS)} (all but "
                f"the first on {scope})\n"
            )
        try:
            report = verify(
                cards,
                samples,
                names=names,
                progress=show,
                texts_done=bar.update if bar is not None else None,
                variant_chars=variant_chars,
                candidate=candidate,
                reference=reference,
            )
        finally:
            if bar is not None:
                bar.close()
        report.skipped = skipped
        if self.json_output:
            sys.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False) + "\n")
        else:
            for item in skipped:
                sys.stdout.write(f"skipped {item}\n")
            sys.stdout.write(_totals_line(report) + "\n")
        return 0 if report.ok else 1


def _shown_reference(reference: str) -> str:
    if reference != default_reference():
        return reference
    # verify_model checks each card against its own form's reference.
    others = [f"{n} for {f} files" for f, n in backends.REFERENCES.items() if n != reference]
    return f"{reference} ({', '.join(others)})" if others else reference


def _bar(wanted: bool | None, total: int) -> Any:
    show = sys.stderr.isatty() if wanted is None else wanted
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=" texts", file=sys.stderr, dynamic_ncols=True, leave=False)


COMMANDS: dict[str, type[Command]] = {"verify": VerifyCommand}
