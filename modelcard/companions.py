"""Read the companion files of a card: special tokens, EOS ids, context length, chat template.

Sources, each optional, all from the same directory or hub commit as tokenizer.json:

* ``tokenizer_config.json``: special tokens (strings or AddedToken dicts),
  ``added_tokens_decoder``, ``model_max_length``, ``add_bos_token``/``add_eos_token``,
  ``chat_template`` (a string, or a list of ``{"name", "template"}``);
* ``special_tokens_map.json``: special tokens an older repo keeps here instead;
  ``tokenizer_config.json`` wins where both name one;
* ``chat_template.jinja``: wins over the template in ``tokenizer_config.json``;
* ``generation_config.json``: ``eos_token_id`` (int or list), ``bos_token_id``,
  ``pad_token_id``;
* ``config.json``: ``max_position_embeddings`` (or an equivalent key, also inside a
  nested ``text_config``), and ``eos_token_id``/``bos_token_id``/``pad_token_id``.

JSON is parsed with the standard library, which accepts the ``Infinity`` and ``NaN`` that
some real configs contain.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CompanionFileError
from .sources import show

__all__ = ["SPECIAL_TOKEN_NAMES", "CardConfig", "CompanionWarning", "read_companions"]

#: Named special tokens, as transformers' ``special_tokens_map`` lists them.
SPECIAL_TOKEN_NAMES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)
#: transformers' sentinel for "model_max_length was never set" is int(1e30); anything this
#: large is not a real limit.
_UNSET_LENGTH = 10**18
#: Keys that hold a model's context length, in the order they are trusted.
_CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_seq_len",
    "seq_length",
    "max_sequence_length",
    "max_seq_length",
    "n_ctx",
)


@dataclass(frozen=True)
class CompanionWarning:
    """A value a companion file holds that modelcard does not use, and why."""

    file: str
    key: str
    value: str
    reason: str

    def describe(self) -> str:
        return f"{self.file} {self.key} = {self.value}: {self.reason}; ignored"


@dataclass(frozen=True)
class CardConfig:
    """What the companion files say about the model, resolved to token ids."""

    special_tokens: dict[str, str] = field(default_factory=dict)
    #: transformers' extra (formerly additional) special tokens, in order.
    extra_special_tokens: tuple[str, ...] = ()
    eos_token_ids: tuple[int, ...] = ()
    bos_token_id: int | None = None
    pad_token_id: int | None = None
    context_length: int | None = None
    context_length_source: str | None = None
    add_bos_token: bool | None = None
    add_eos_token: bool | None = None
    chat_templates: dict[str, str] = field(default_factory=dict)
    chat_template_source: str | None = None
    added_tokens: dict[int, str] = field(default_factory=dict)
    warnings: tuple[CompanionWarning, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "special_tokens": dict(self.special_tokens),
            "extra_special_tokens": list(self.extra_special_tokens),
            "eos_token_ids": list(self.eos_token_ids),
            "bos_token_id": self.bos_token_id,
            "pad_token_id": self.pad_token_id,
            "context_length": self.context_length,
            "context_length_source": self.context_length_source,
            "add_bos_token": self.add_bos_token,
            "add_eos_token": self.add_eos_token,
            "chat_templates": sorted(self.chat_templates),
            "chat_template_source": self.chat_template_source,
            "warnings": [w.describe() for w in self.warnings],
        }


def _text(raw: bytes, path: Path, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CompanionFileError(f"{name} at {show(path)} is not UTF-8 text: {exc}") from exc


def _read_json(raw: bytes, path: Path, name: str) -> dict[str, Any]:
    text = _text(raw, path, name)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CompanionFileError(
            f"{name} at {show(path)} is not valid JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}). Fix or delete the file; it is optional."
        ) from exc
    if not isinstance(data, dict):
        raise CompanionFileError(
            f"{name} at {show(path)} must hold a JSON object, not {type(data).__name__}."
        )
    return data


def _token_content(value: Any) -> str | None:
    """A special token given as a string or as an AddedToken dict."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        content: str = value["content"]
        return content
    return None


class _Issues:
    """Values a companion file holds but that cannot be used, each noted once."""

    def __init__(self) -> None:
        self.found: list[CompanionWarning] = []

    def note(self, file: str, key: str, value: Any, reason: str) -> None:
        self.found.append(CompanionWarning(file, key, _shown(value), reason))


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 80 else text[:77] + "..."


def _ids(value: Any, where: str, key: str, vocab_size: int, issues: _Issues) -> list[int]:
    """An id field that may be an int, a list of ints, or absent; bad entries are noted."""
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    good: list[int] = []
    for item in values:
        if isinstance(item, bool) or not isinstance(item, int):
            issues.note(where, key, item, "not an integer token id")
        elif not 0 <= item < vocab_size:
            issues.note(where, key, item, f"not a token id of this {vocab_size}-token vocabulary")
        else:
            good.append(item)
    return good


def _length(value: Any, where: str, key: str, issues: _Issues) -> int | None:
    """A context length, or None; a present value that is not one is noted."""
    if value is None:
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        # transformers writes int(1e30) for "never set": present, but no limit.
        return value if value < _UNSET_LENGTH else None
    if isinstance(value, float) and value == math.inf:
        return None
    issues.note(where, key, value, "not a positive integer length")
    return None


def _context_length(
    config: Mapping[str, Any], tokenizer_config: Mapping[str, Any], issues: _Issues
) -> tuple[int | None, str | None]:
    scopes: list[tuple[str, Mapping[str, Any]]] = [("config.json", config)]
    for nested in ("text_config", "llm_config", "language_config"):
        inner = config.get(nested)
        if isinstance(inner, dict):
            scopes.append((f"config.json {nested}", inner))
    found: tuple[int | None, str | None] = (None, None)
    for key in _CONTEXT_KEYS:
        for where, scope in scopes:
            value = _length(scope.get(key), where, key, issues)
            if value is not None and found[0] is None:
                found = (value, f"{where} {key}")
    if found[0] is not None:
        return found
    value = _length(
        tokenizer_config.get("model_max_length"),
        "tokenizer_config.json",
        "model_max_length",
        issues,
    )
    if value is not None:
        return value, "tokenizer_config.json model_max_length"
    return None, None


def _templates(
    contents: Mapping[str, bytes],
    paths: Mapping[str, Path],
    tokenizer_config: Mapping[str, Any],
    issues: _Issues,
) -> tuple[dict[str, str], str | None]:
    templates: dict[str, str] = {}
    source: str | None = None
    raw = tokenizer_config.get("chat_template")
    where = "tokenizer_config.json"
    if isinstance(raw, str):
        templates["default"] = raw
        source = where
    elif isinstance(raw, list):
        for entry in raw:
            name = entry.get("name") if isinstance(entry, dict) else None
            template = entry.get("template") if isinstance(entry, dict) else None
            if isinstance(name, str) and isinstance(template, str):
                templates[name] = template
            else:
                issues.note(
                    where, "chat_template", entry, "a list entry must be {'name', 'template'}"
                )
        if templates:
            source = where
    elif raw is not None:
        issues.note(where, "chat_template", raw, "not a string or a list of named templates")
    jinja = contents.get("chat_template.jinja")
    if jinja is not None:
        # As in transformers: the file replaces whatever tokenizer_config.json declares.
        name = "chat_template.jinja"
        return {"default": _text(jinja, paths[name], name)}, name
    return templates, source


def _extra_special(config: Mapping[str, Any], where: str, issues: _Issues) -> list[str]:
    """transformers' extra special tokens (``additional_special_tokens`` before v5)."""
    out: list[str] = []
    for key in ("extra_special_tokens", "additional_special_tokens"):
        value = config.get(key)
        if value is None:
            continue
        items = list(value.values()) if isinstance(value, dict) else value
        if not isinstance(items, list):
            issues.note(where, key, value, "not a list of tokens")
            continue
        for item in items:
            content = _token_content(item)
            if content is None:
                issues.note(where, key, item, "not a token string or AddedToken")
            else:
                out.append(content)
        if out:
            break
    return out


def read_companions(
    contents: Mapping[str, bytes],
    paths: Mapping[str, Path],
    token_to_id: Callable[[str], int | None],
    vocab_size: int,
) -> CardConfig:
    """Parse whichever companion files exist into a :class:`CardConfig`.

    ``contents`` maps file names to their bytes; ``paths`` says where each came from.
    Values that are present but unusable (a context length that is not a number, an EOS
    id outside the vocabulary, a chat template that is not text) are left out, each with
    a :class:`CompanionWarning`.
    """
    loaded = {
        name: _read_json(contents[name], paths[name], name)
        for name in (
            "tokenizer_config.json",
            "special_tokens_map.json",
            "generation_config.json",
            "config.json",
        )
        if name in contents
    }
    tokenizer_config = loaded.get("tokenizer_config.json", {})
    special_map = loaded.get("special_tokens_map.json", {})
    generation = loaded.get("generation_config.json", {})
    config = loaded.get("config.json", {})
    issues = _Issues()

    special: dict[str, str] = {}
    for name in SPECIAL_TOKEN_NAMES:
        for where, source in (
            ("tokenizer_config.json", tokenizer_config),
            ("special_tokens_map.json", special_map),
        ):
            value = source.get(name)
            content = _token_content(value)
            if content is not None:
                special[name] = content
                break
            if value is not None:
                issues.note(where, name, value, "not a token string or AddedToken")
    extra = _extra_special(tokenizer_config, "tokenizer_config.json", issues) or _extra_special(
        special_map, "special_tokens_map.json", issues
    )

    added: dict[int, str] = {}
    decoder = tokenizer_config.get("added_tokens_decoder")
    if isinstance(decoder, dict):
        for key, value in decoder.items():
            content = _token_content(value)
            if content is not None and str(key).isdigit():
                added[int(key)] = content
    by_content = {content: token_id for token_id, content in added.items()}

    def lookup(token: str | None) -> int | None:
        if token is None:
            return None
        found = token_to_id(token)
        return found if found is not None else by_content.get(token)

    def ids(where: str, scope: Mapping[str, Any], key: str) -> list[int]:
        return _ids(scope.get(key), where, key, vocab_size, issues)

    eos = ids("generation_config.json", generation, "eos_token_id")
    eos += ids("config.json", config, "eos_token_id")
    text_config = config.get("text_config")
    if isinstance(text_config, dict):
        eos += ids("config.json text_config", text_config, "eos_token_id")
    tokenizer_eos = lookup(special.get("eos_token"))
    if tokenizer_eos is not None:
        eos.append(tokenizer_eos)

    def special_id(name: str) -> int | None:
        found = lookup(special.get(name + "_token"))
        key = name + "_token_id"
        fallbacks = ids("generation_config.json", generation, key) + ids("config.json", config, key)
        return found if found is not None else (fallbacks[0] if fallbacks else None)

    context_length, context_source = _context_length(config, tokenizer_config, issues)
    templates, template_source = _templates(contents, paths, tokenizer_config, issues)

    def flag(name: str) -> bool | None:
        value = tokenizer_config.get(name)
        return value if isinstance(value, bool) else None

    return CardConfig(
        special_tokens=special,
        extra_special_tokens=tuple(dict.fromkeys(extra)),
        eos_token_ids=tuple(dict.fromkeys(eos)),
        bos_token_id=special_id("bos"),
        pad_token_id=special_id("pad"),
        context_length=context_length,
        context_length_source=context_source,
        add_bos_token=flag("add_bos_token"),
        add_eos_token=flag("add_eos_token"),
        chat_templates=templates,
        chat_template_source=template_source,
        added_tokens=added,
        warnings=tuple(issues.found),
    )
