"""tiktoken ranks files (``tiktoken.model``, ``*.tiktoken``): read, check, and complete.

A ranks file holds only the byte-level BPE vocabulary: one ``<base64 bytes> <rank>``
per line, ranks 0, 1, 2, ... in order. What a tokenizer also needs comes from elsewhere:

* the split pattern, in this order: ``DYN_TIKTOKEN_PATTERN`` (an encoding name below or
  a regex); a file named after a known encoding (``o200k_base.tiktoken``); the
  ``model_type`` of ``config.json`` in :data:`MODEL_TYPE_PATTERNS`; else an error naming
  the setting. No code from the repo is ever run;
* the special tokens, from ``added_tokens_decoder`` in ``tokenizer_config.json``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import TiktokenFileError, TiktokenPatternError

__all__ = [
    "ENCODING_PATTERNS",
    "MODEL_TYPE_PATTERNS",
    "TIKTOKEN",
    "TiktokenParts",
    "check_pattern_setting",
    "read_parts",
    "read_ranks",
]

#: The source form of tiktoken ranks files.
TIKTOKEN = "tiktoken"

_R50K = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
_CL100K = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
    r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K = "|".join(
    (
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"""
        r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"""
        r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    )
)
# Kimi K2's tokenization_kimi.py: o200k-like, with runs of Han characters split first.
_KIMI = "|".join(
    (
        r"""[\p{Han}]+""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*"""
        r"""[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+"""
        r"""[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    )
)
# Qwen-1's tokenization_qwen.py: cl100k's, with single digits.
_QWEN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

#: The split pattern of each OpenAI encoding, by name.
ENCODING_PATTERNS: dict[str, str] = {
    "r50k_base": _R50K,
    "p50k_base": _R50K,
    "p50k_edit": _R50K,
    "cl100k_base": _CL100K,
    "o200k_base": _O200K,
}
#: The split pattern of model families that ship a ranks file, by config.json model_type.
MODEL_TYPE_PATTERNS: dict[str, str] = {
    "kimi_k2": _KIMI,
    "kimi_linear": _KIMI,
    "qwen": _QWEN,
}


@dataclass(frozen=True)
class TiktokenParts:
    """A ranks file completed into a tokenizer: pattern and special tokens."""

    path: Path
    pattern: str
    #: Where the pattern came from, for ``inspect``: ``"DYN_TIKTOKEN_PATTERN=cl100k_base"``.
    pattern_source: str
    #: Token bytes by rank.
    ranks: dict[bytes, int] = field(repr=False)
    special_tokens: dict[str, int] = field(default_factory=dict)
    #: The OpenAI encoding the pattern is, when it is one by name (the setting or the file's
    #: name), so a backend may use its own tuned splitter for it.
    encoding: str | None = None

    @property
    def vocab_size(self) -> int:
        return max([len(self.ranks) - 1, *self.special_tokens.values()]) + 1


def check_pattern_setting(value: str | None) -> str | None:
    """Validate ``DYN_TIKTOKEN_PATTERN``: a known encoding name, or a regex that compiles."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value in ENCODING_PATTERNS:
        return value
    if value.replace("_", "").isalnum():
        raise ValueError(
            f"unknown tiktoken encoding {value!r}; give one of "
            f"{', '.join(ENCODING_PATTERNS)}, or a split regex"
        )
    try:
        import regex
    except ImportError:  # the regex package comes with the tiktoken extra; checked at load
        return value
    try:
        regex.compile(value)
    except regex.error as exc:
        raise ValueError(
            f"{value!r} is neither a tiktoken encoding name ({', '.join(ENCODING_PATTERNS)}) "
            f"nor a valid regex: {exc}"
        ) from None
    return value


def read_ranks(path: Path, data: bytes) -> dict[bytes, int]:
    """The ranks of a tiktoken file; a TiktokenFileError names the file and the line."""
    where = repr(str(path))
    if not data.strip():
        raise TiktokenFileError(
            f"The tiktoken file {where} is empty. Restore the file (for a hub repo, delete "
            "the cached copy with `hf cache delete` and load again).",
            path=str(path),
        )
    ranks: dict[bytes, int] = {}
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise TiktokenFileError(
                f"{where} line {number}: expected '<base64 token> <rank>', got {line[:60]!r}.",
                path=str(path),
                line=number,
            )
        try:
            token = base64.b64decode(parts[0], validate=True)
        except (binascii.Error, ValueError):
            raise TiktokenFileError(
                f"{where} line {number}: {parts[0][:40]!r} is not valid base64.",
                path=str(path),
                line=number,
            ) from None
        rank = int(parts[1])
        if token in ranks:
            raise TiktokenFileError(
                f"{where} line {number}: the token {token!r} is listed twice (ranks "
                f"{ranks[token]} and {rank}).",
                path=str(path),
                line=number,
            )
        if rank != len(ranks):
            problem = "is listed twice" if rank < len(ranks) else f"skips rank {len(ranks)}"
            raise TiktokenFileError(
                f"{where} line {number}: rank {rank} {problem}; a tiktoken file lists "
                "ranks 0, 1, 2, ... in order, each once.",
                path=str(path),
                line=number,
            )
        ranks[token] = rank
    return ranks


def _special_tokens(
    files: Mapping[str, Path], ranks: dict[bytes, int], path: Path
) -> dict[str, int]:
    config_path = files.get("tokenizer_config.json")
    if config_path is None:
        return {}
    try:
        config = json.loads(config_path.read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError):
        return {}  # the companion reader reports a malformed file
    decoder = config.get("added_tokens_decoder") if isinstance(config, dict) else None
    if not isinstance(decoder, dict):
        return {}
    specials: dict[str, int] = {}
    for key, entry in decoder.items():
        content = entry.get("content") if isinstance(entry, dict) else entry
        if not isinstance(content, str) or not str(key).isdigit():
            continue
        token_id = int(key)
        if token_id < len(ranks):
            raise TiktokenFileError(
                f"{str(config_path)!r}: added token {content!r} has id {token_id}, which is "
                f"a rank of the tiktoken file {str(path)!r} (ranks 0-{len(ranks) - 1}); "
                "special tokens need ids past the ranks.",
                path=str(config_path),
            )
        specials[content] = token_id
    return specials


def _config_model_type(files: Mapping[str, Path]) -> str | None:
    config_path = files.get("config.json")
    if config_path is None:
        return None
    try:
        config = json.loads(config_path.read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError):
        return None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    return model_type if isinstance(model_type, str) else None


def _pattern(
    setting: str | None, path: Path, files: Mapping[str, Path]
) -> tuple[str, str, str | None]:
    """The pattern, where it came from, and the encoding it is by name (or None)."""
    if setting:
        if setting in ENCODING_PATTERNS:
            return ENCODING_PATTERNS[setting], f"DYN_TIKTOKEN_PATTERN ({setting})", setting
        return setting, "DYN_TIKTOKEN_PATTERN (a regex)", None
    if path.suffix == ".tiktoken" and path.stem in ENCODING_PATTERNS:
        return ENCODING_PATTERNS[path.stem], f"file name ({path.stem})", path.stem
    model_type = _config_model_type(files)
    if model_type in MODEL_TYPE_PATTERNS:
        return MODEL_TYPE_PATTERNS[model_type], f"config.json model_type ({model_type})", None
    found = f" (config.json model_type: {model_type!r})" if model_type else ""
    raise TiktokenPatternError(
        f"The tiktoken file {str(path)!r} holds no split pattern, and none is known for this "
        f"model{found}. Set DYN_TIKTOKEN_PATTERN (--tiktoken-pattern) to an encoding name "
        f"({', '.join(ENCODING_PATTERNS)}) or to the model's split regex."
    )


def read_parts(
    path: Path, data: bytes, files: Mapping[str, Path], *, pattern_setting: str | None
) -> TiktokenParts:
    """The ranks of ``path``, with the pattern and special tokens that complete them."""
    ranks = read_ranks(path, data)
    pattern, source, encoding = _pattern(pattern_setting, path, files)
    specials = _special_tokens(files, ranks, path)
    return TiktokenParts(
        path=path,
        pattern=pattern,
        pattern_source=source,
        ranks=ranks,
        special_tokens=specials,
        encoding=encoding,
    )
