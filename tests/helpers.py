"""Paths and corpora the tests share."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from modelcard import ModelCard, Tokenizer

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
TEXTS = FIXTURES / "texts"

#: Real tokenizers bundled in fixtures/, by whether fastokens serves them.
FAST_TOKENIZERS = [
    "minimal-bpe",
    "gpt2",
    "mixtral-8x22b",
    "qwen2.5",
    "phi-3-mini",
    "tiny-gemma-cropped-torchtune",
]
REFUSED_TOKENIZERS = ["minimal-bpe-punct", "bert-base-uncased"]
REAL_TOKENIZERS = ["gpt2", "mixtral-8x22b", "qwen2.5", "phi-3-mini", "bert-base-uncased"]


def fixture_dir(name: str) -> str:
    """A fixture folder as a model reference (absolute, so it is read as a path)."""
    return str(FIXTURES / name)


def chat_messages() -> list[list[dict[str, str]]]:
    lines = (TEXTS / "chat-sample.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["messages"] for line in lines]


def chat_texts() -> list[str]:
    return [m["content"] for conv in chat_messages() for m in conv]


def multilingual_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((TEXTS / "multilingual").glob("*.txt"))]


def code_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((TEXTS / "code").glob("*.py"))]


def unicode_texts() -> list[str]:
    out: list[str] = []
    for line in (TEXTS / "unicode" / "normalization_sample.jsonl").read_text("utf-8").splitlines():
        out.extend(json.loads(line))
    out.extend((TEXTS / "unicode" / "emoji_sample.txt").read_text("utf-8").splitlines())
    for line in (TEXTS / "unicode" / "word_break_sample.jsonl").read_text("utf-8").splitlines():
        out.append(json.loads(line))
    return out


def adversarial_texts() -> list[tuple[str, str]]:
    lines = (TEXTS / "adversarial-sample.jsonl").read_text(encoding="utf-8").splitlines()
    return [(rec["name"], rec["text"]) for rec in map(json.loads, lines)]


@cache
def loaded(name: str, backend: str) -> Tokenizer:
    """A fixture tokenizer, strict (no fallback), shared across tests: tokenizers are immutable."""
    return ModelCard(model=fixture_dir(name), tokenizer=backend, tokenizer_fallback=False).load()


def shared_dir() -> Path:
    """The shared corpus (real tokenizers and texts): $MODELCARD_SHARED or ../shared."""
    import os

    configured = os.environ.get("MODELCARD_SHARED")
    return Path(configured) if configured else ROOT.parent / "shared"
