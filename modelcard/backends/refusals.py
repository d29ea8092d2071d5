"""fastokens' refusals in plain words: the real cause, never "model type Other".

fastokens 0.3.5 says ``unsupported model type: Other`` both for models it does not
implement (WordPiece, Unigram, WordLevel; legacy files without a ``type`` key) and for a
BPE vocabulary with id gaps or an empty-string token; a pattern its regex engine (PCRE2)
cannot compile surfaces as a pre-tokenizer error. :func:`plain_reason` reads the file to
say which it is.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["model_kind", "plain_reason"]


def model_kind(model: Any) -> str:
    """The model's kind as HF reads it, the legacy files without ``type`` included."""
    if not isinstance(model, dict):
        return "unknown"
    kind = model.get("type")
    if isinstance(kind, str):
        return kind
    if isinstance(model.get("vocab"), list):
        return "Unigram"
    if "merges" in model:
        return "BPE"
    if "max_input_chars_per_word" in model or "continuing_subword_prefix" in model:
        return "WordPiece"
    return "WordLevel"


def _vocab_problem(model: dict[str, Any], added: list[Any]) -> str | None:
    vocab = model.get("vocab")
    if not isinstance(vocab, dict):
        return None
    ids = {i for i in vocab.values() if isinstance(i, int) and i >= 0}
    top = max(ids, default=-1)
    added_ids = {t.get("id") for t in added if isinstance(t, dict)}
    taken = ids | {i for i in added_ids if isinstance(i, int) and 0 <= i <= top}
    gaps = top + 1 - len(taken)  # counted, not scanned: a broken file may say 2**40
    problems = []
    if gaps:
        problems.append(
            f"its BPE vocabulary has {gaps:,} ids missing ({len(vocab):,} tokens with ids up to "
            f"{top:,}) and fastokens needs contiguous ids"
        )
    if "" in vocab:
        problems.append(f"its vocabulary has an empty-string token (id {vocab['']})")
    return "; ".join(problems) or None


def plain_reason(message: str, data: bytes) -> str:
    """Why fastokens refused the file, in words that name the cause (its own message
    when the file is too broken to tell; the reference then judges it)."""
    try:
        return _plain_reason(message, json.loads(data))
    except (ValueError, TypeError, KeyError, AttributeError):
        return message


def _plain_reason(message: str, parsed: Any) -> str:
    if not isinstance(parsed, dict):
        return message
    model = parsed.get("model")
    kind = model_kind(model)
    if kind != "BPE":
        return f"fastokens implements BPE only; this is a {kind} model"
    if "unsupported model type" in message and isinstance(model, dict):
        problem = _vocab_problem(model, parsed.get("added_tokens") or [])
        if problem is not None:
            return problem
        return f"fastokens cannot read this BPE model ({message})"
    if "regex error" in message:
        detail = message.split("regex error:", 1)[-1].strip()
        return (
            "fastokens' regex engine (PCRE2) cannot compile a Split pattern of this file, "
            f"which HF's engine (Oniguruma) accepts: {detail}"
        )
    for part, key in (
        ("pre-tokenizer", "pre_tokenizer"),
        ("normalizer", "normalizer"),
        ("post-processor", "post_processor"),
        ("decoder", "decoder"),
    ):
        if f"unsupported {part} type" in message:
            kind_there = message.rsplit(":", 1)[-1].strip()
            return f"fastokens does not implement the {kind_there} {part} ({key}): {message}"
    return message
