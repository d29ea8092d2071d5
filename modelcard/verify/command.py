"""``modelcard verify``: the command around :func:`modelcard.verify.verify`.

Registered through ``modelcard.cli.COMMAND_MODULES``; it prints, the library does not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import backends
from ..card import ModelCard
from ..errors import TextsError
from .check import VARIANT_CHARS, VARIANTS, default_candidate, default_reference, verify
from .results import TokenizerResult, VerifyReport
from .texts import Sample, builtin_samples, default_shared_dir, find_tokenizers, read_texts

__all__ = ["register"]


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


def _targets(args: argparse.Namespace) -> tuple[list[ModelCard], list[str], bool]:
    """The cards to check, their display names, and whether this is corpus mode."""
    from ..cli import card_from_args

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


def _backend_name(value: str) -> str:
    try:
        return backends.canonical(value, auto=False)
    except backends.UnknownBackendError as exc:
        raise argparse.ArgumentTypeError(
            f"{exc} Registered backends: {backends.describe_choices(auto=False)}"
        ) from None


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
            f"verify: {args.backend} vs {args.reference} on {len(samples):,} texts (encode, "
            f"decode, stream), variants {', '.join(v for v, _, _ in VARIANTS)} (all but the "
            f"first on {scope})\n"
        )
    report = verify(
        cards,
        samples,
        names=names,
        progress=show,
        variant_chars=variant_chars,
        candidate=args.backend,
        reference=args.reference,
    )
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
        help="check one backend against another (fastokens vs HF) on your texts",
        description=(
            "Encode texts with --backend (fallback off) and with --reference, with "
            "add_special_tokens false and true and with the tokenizer's special-token "
            "strings inserted; decode the reference's ids with both; stream a sample; and "
            "report every difference. Exit 1 on any mismatch, 2 on bad arguments. "
            "--tokenizer, --decoder and --tokenizer-fallback are ignored; the other card "
            "settings apply to both, e.g. --tokenizer-cache-bytes to check with the "
            "segment cache on."
        ),
    )
    parser.add_argument(
        "--backend",
        type=_backend_name,
        default=default_candidate(),
        metavar="NAME",
        help=f"the backend to check (default: {default_candidate()})",
    )
    parser.add_argument(
        "--reference",
        type=_backend_name,
        default=default_reference(),
        metavar="NAME",
        help=(
            f"the backend to check against (default: {default_reference()}); 'transformers' "
            "shows where transformers' AutoTokenizer differs"
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
