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

__all__ = ["SPECIAL_TOKEN_NAMES", "CardConfig", "read_companions"]

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
class CardConfig:
    """What the companion files say about the model, resolved to token ids."""

    special_tokens: dict[str, str] = field(default_factory=dict)
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "special_tokens": dict(self.special_tokens),
            "eos_token_ids": list(self.eos_token_ids),
            "bos_token_id": self.bos_token_id,
            "pad_token_id": self.pad_token_id,
            "context_length": self.context_length,
            "context_length_source": self.context_length_source,
            "add_bos_token": self.add_bos_token,
            "add_eos_token": self.add_eos_token,
            "chat_templates": sorted(self.chat_templates),
            "chat_template_source": self.chat_template_source,
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


def _ids(value: Any) -> list[int]:
    """An id field that may be an int, a list of ints, or absent."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value] if value >= 0 else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool) and v >= 0]
    return []


def _first_id(*values: Any) -> int | None:
    for value in values:
        found = _ids(value)
        if found:
            return found[0]
    return None


def _context_length(
    config: Mapping[str, Any], tokenizer_config: Mapping[str, Any]
) -> tuple[int | None, str | None]:
    scopes: list[tuple[str, Mapping[str, Any]]] = [("config.json", config)]
    for nested in ("text_config", "llm_config", "language_config"):
        inner = config.get(nested)
        if isinstance(inner, dict):
            scopes.append((f"config.json {nested}", inner))
    for key in _CONTEXT_KEYS:
        for where, scope in scopes:
            value = scope.get(key)
            if isinstance(value, bool):
                continue
            if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                value = int(value)
            if isinstance(value, int) and 0 < value < _UNSET_LENGTH:
                return value, f"{where} {key}"
    value = tokenizer_config.get("model_max_length")
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < _UNSET_LENGTH:
        return value, "tokenizer_config.json model_max_length"
    return None, None


def _templates(
    contents: Mapping[str, bytes], paths: Mapping[str, Path], tokenizer_config: Mapping[str, Any]
) -> tuple[dict[str, str], str | None]:
    templates: dict[str, str] = {}
    source: str | None = None
    raw = tokenizer_config.get("chat_template")
    if isinstance(raw, str):
        templates["default"] = raw
        source = "tokenizer_config.json"
    elif isinstance(raw, list):
        for entry in raw:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                template = entry.get("template")
                if isinstance(template, str):
                    templates[entry["name"]] = template
        if templates:
            source = "tokenizer_config.json"
    jinja = contents.get("chat_template.jinja")
    if jinja is not None:
        # As in transformers: the file replaces whatever tokenizer_config.json declares.
        name = "chat_template.jinja"
        return {"default": _text(jinja, paths[name], name)}, name
    return templates, source


def read_companions(
    contents: Mapping[str, bytes],
    paths: Mapping[str, Path],
    token_to_id: Callable[[str], int | None],
) -> CardConfig:
    """Parse whichever companion files exist into a :class:`CardConfig`.

    ``contents`` maps file names to their bytes; ``paths`` says where each came from.
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

    special: dict[str, str] = {}
    for name in SPECIAL_TOKEN_NAMES:
        content = _token_content(tokenizer_config.get(name))
        if content is None:
            content = _token_content(special_map.get(name))
        if content is not None:
            special[name] = content

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

    eos: list[int] = []
    for value in (generation.get("eos_token_id"), config.get("eos_token_id")):
        eos.extend(_ids(value))
    text_config = config.get("text_config")
    if isinstance(text_config, dict):
        eos.extend(_ids(text_config.get("eos_token_id")))
    tokenizer_eos = lookup(special.get("eos_token"))
    if tokenizer_eos is not None:
        eos.append(tokenizer_eos)

    context_length, context_source = _context_length(config, tokenizer_config)
    templates, template_source = _templates(contents, paths, tokenizer_config)

    def flag(name: str) -> bool | None:
        value = tokenizer_config.get(name)
        return value if isinstance(value, bool) else None

    def special_id(name: str, *fallbacks: Any) -> int | None:
        found = lookup(special.get(name))
        return found if found is not None else _first_id(*fallbacks)

    return CardConfig(
        special_tokens=special,
        eos_token_ids=tuple(dict.fromkeys(eos)),
        bos_token_id=special_id(
            "bos_token", generation.get("bos_token_id"), config.get("bos_token_id")
        ),
        pad_token_id=special_id(
            "pad_token", generation.get("pad_token_id"), config.get("pad_token_id")
        ),
        context_length=context_length,
        context_length_source=context_source,
        add_bos_token=flag("add_bos_token"),
        add_eos_token=flag("add_eos_token"),
        chat_templates=templates,
        chat_template_source=template_source,
        added_tokens=added,
    )
