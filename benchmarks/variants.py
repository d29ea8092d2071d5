"""Real tokenizer files with one component swapped, for the rewrites no file in
../shared needs: a normalizer fastokens lacks (NFKC, NFKD, BertNormalizer) and
Metaspace's 'always' scheme. Each keeps the real vocabulary, merges, added tokens and
the rest of the pipeline.

    python benchmarks/variants.py --shared ../shared --out /tmp/variants

writes OUT/<name>/tokenizer.json for every variant below; then, for the shipping rule:

    modelcard verify --model /tmp/variants/<name> --texts ../shared/texts --full-variants
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
Data = dict[str, Any]


def _normalizer(spec: Data) -> Callable[[Data], None]:
    def change(data: Data) -> None:
        data["normalizer"] = spec

    return change


def _metaspace(scheme: str, split: bool) -> Callable[[Data], None]:
    def change(data: Data) -> None:
        data["pre_tokenizer"].update(prepend_scheme=scheme, split=split)

    return change


#: name -> (the real file in ../shared/tokenizers, the change)
VARIANTS: dict[str, tuple[str, Callable[[Data], None]]] = {
    # Qwen2.5's real normalizer is NFC; NFKC is what other real vocabularies use.
    "qwen2.5-nfkc": ("qwen2.5", _normalizer({"type": "NFKC"})),
    "gpt2-nfkd": ("gpt2", _normalizer({"type": "NFKD"})),
    "gpt-neox-20b-bert-normalizer": (
        "gpt-neox-20b",
        _normalizer(
            {
                "type": "BertNormalizer",
                "clean_text": True,
                "handle_chinese_chars": True,
                "strip_accents": None,
                "lowercase": True,
            }
        ),
    ),
    "mistral-7b-always": ("mistral-7b-v0.1", _metaspace("always", False)),
    "mistral-7b-always-split": ("mistral-7b-v0.1", _metaspace("always", True)),
}


def write_variants(shared: Path, out: Path, names: list[str] | None = None) -> list[Path]:
    """Write the variants (all, or ``names``) under ``out``; their folders."""
    folders = []
    for name in names or list(VARIANTS):
        source, change = VARIANTS[name]
        data: Data = json.loads((shared / "tokenizers" / source / "tokenizer.json").read_bytes())
        change(data)
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, ensure_ascii=False)
        (folder / "tokenizer.json").write_text(text, encoding="utf-8")
        folders.append(folder)
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("names", nargs="*", choices=[*VARIANTS, []], help="default: all")
    args = parser.parse_args()
    for folder in write_variants(args.shared, args.out, args.names or None):
        print(folder)


if __name__ == "__main__":
    main()
