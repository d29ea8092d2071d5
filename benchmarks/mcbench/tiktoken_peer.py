"""A ``tiktoken.Encoding`` built from a byte-level BPE tokenizer.json, for a peer contender.

There is no network, so the cl100k ranks cannot be downloaded: they are rebuilt from the
tokenizer.json. A byte-level BPE vocabulary spells each byte as one printable character;
undoing that spelling gives the token's bytes, and the token id is its rank.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _byte_alphabet() -> dict[str, int]:
    """The printable character that stands for each byte in a byte-level vocabulary."""
    kept = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    mapping = {chr(b): b for b in kept}
    shifted = 0
    for b in range(256):
        if b not in kept:
            mapping[chr(256 + shifted)] = b
            shifted += 1
    return mapping


#: GPT-2's pre-tokenizer regex, which HF's ByteLevel(use_regex=true) applies.
_GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def _split_pattern(pre_tokenizer: dict[str, Any] | None) -> str | None:
    """The regex that cuts text into pieces, when the pre-tokenizer keeps every piece.

    A Split that keeps its matches (``invert`` with ``Removed``, or ``Isolated``) works as
    tiktoken's pattern does; so does ByteLevel's built-in GPT-2 regex. The parity check
    before timing catches any case this reading gets wrong.
    """
    if not pre_tokenizer:
        return None
    steps = pre_tokenizer.get("pretokenizers", [pre_tokenizer])
    for step in steps:
        kind = step.get("type")
        if kind == "Split" and "Regex" in step.get("pattern", {}):
            keeps = step.get("invert") == (step.get("behavior") == "Removed")
            if keeps or step.get("behavior") == "Isolated":
                pattern: str = step["pattern"]["Regex"]
                return pattern
        if kind == "ByteLevel" and step.get("use_regex", True):
            return _GPT2_PATTERN
    return None


def build_encoding(tokenizer_json: Path) -> Any:
    """A tiktoken Encoding equivalent to ``tokenizer_json``; raises ValueError when none is."""
    import tiktoken

    spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    model = spec.get("model", {})
    if model.get("type", "BPE") != "BPE" or "merges" not in model:
        raise ValueError("not a BPE model")
    if spec.get("normalizer"):
        raise ValueError("has a normalizer, which tiktoken does not apply")
    pattern = _split_pattern(spec.get("pre_tokenizer"))
    if pattern is None:
        raise ValueError("no pre-tokenizer regex that tiktoken applies the same way")
    added = {t["content"]: t["id"] for t in spec.get("added_tokens", [])}
    alphabet = _byte_alphabet()
    ranks: dict[bytes, int] = {}
    for token, rank in model["vocab"].items():
        if token in added or not token:
            continue
        try:
            ranks[bytes(alphabet[c] for c in token)] = rank
        except KeyError as exc:
            raise ValueError(f"token {token!r} is not byte-level") from exc
    return tiktoken.Encoding(
        tokenizer_json.parent.name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=added
    )
