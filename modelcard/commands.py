"""``modelcard inspect``, ``encode`` and ``decode``: the commands around one card.

``-`` as TEXT or IDS reads standard input: all of it as one input, or one input per line
with ``--lines`` (each gets its own output line).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import Field
from pydantic_settings import CliPositionalArg

from .cli import Command, UsageError, card_command

__all__ = ["COMMANDS", "DecodeCommand", "EncodeCommand", "InspectCommand", "parse_ids"]

_INTEGER = re.compile(r"\d+")


def _print(data: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    sys.stdout.write((json.dumps(data, ensure_ascii=False) if as_json else human(data)) + "\n")


def _inputs(value: str, lines: bool) -> Iterator[str]:
    """The inputs a TEXT or IDS argument stands for."""
    if value != "-":
        if lines:
            yield from value.split("\n")
        else:
            yield value
        return
    if lines:
        for line in sys.stdin:
            yield line.removesuffix("\n").removesuffix("\r")
    else:
        yield sys.stdin.read()


def parse_ids(text: str) -> list[int]:
    """Token ids written as ``18 20 3``, ``18,20,3`` or a JSON list ``[18, 20, 3]``.

    Anything else (a half list, a negative or decimal number, a word) is a usage error.
    """
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise UsageError(f"IDS {text!r} is not a JSON list of ids ({exc.msg})") from None
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
        ):
            raise UsageError(f"IDS {text!r} must be a list of non-negative integers")
        return value
    parts = [p for p in re.split(r"[\s,]+", stripped) if p]
    bad = next((p for p in parts if not _INTEGER.fullmatch(p)), None)
    if bad is not None:
        raise UsageError(
            f"IDS must be non-negative integers separated by spaces or commas, or a JSON "
            f"list; {bad!r} is not one"
        )
    return [int(p) for p in parts]


def _inspect_text(info: dict[str, Any]) -> str:
    rows: list[tuple[str, Any]] = [
        ("model", f"{info['model']} ({info['source']})"),
    ]
    if info["source"] == "hub":
        rows.append(("revision", f"{info['revision']} (commit {info['commit']})"))
    rows.extend(("file", f"{name}: {path}") for name, path in info["files"].items())
    tiktoken = info.get("tiktoken")
    if tiktoken is not None:
        rows.append(("form", f"tiktoken ({tiktoken['ranks']} ranks in {tiktoken['file']})"))
        rows.append(("pattern", f"from {tiktoken['pattern_source']}: {tiktoken['pattern']}"))
    backend = info["backend"]
    if info.get("rewrites"):
        backend += ", after rewrite " + ", ".join(f"'{name}'" for name in info["rewrites"])
    backend += f" (requested: {info['requested']})"
    if info["decoder"] != info["backend"]:
        backend += f", decoded by {info['decoder']}"
    if info["fallback_reason"]:
        backend += f"; fell back because: {info['fallback_reason']}"
    rows += [
        ("backend", backend),
        ("vocab_size", info["vocab_size"]),
        ("eos_token_ids", info["eos_token_ids"]),
        ("bos_token_id", info["bos_token_id"]),
        ("pad_token_id", info["pad_token_id"]),
        (
            "context_length",
            f"{info['context_length']} (from {info['context_length_source']})"
            if info["context_length"]
            else None,
        ),
        ("special_tokens", info["special_tokens"] or None),
        (
            "chat_template",
            f"{', '.join(info['chat_templates'])} (from {info['chat_template_source']})"
            if info["chat_templates"]
            else None,
        ),
        ("fingerprint", info["fingerprint"]),
    ]
    rows.extend(("warning", warning) for warning in info["warnings"])
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{key:<{width}}  {'-' if value is None else value}" for key, value in rows)


@card_command
class InspectCommand(Command):
    """Show the files found, the backend (and why), special tokens and the fingerprint."""

    json_output: bool = Field(default=False, alias="json", description="machine-readable output")

    def run(self) -> int:
        _print(self.card().load().describe(), self.json_output, _inspect_text)
        return 0


@card_command
class EncodeCommand(Command):
    """Print the token ids of TEXT ('-' reads standard input)."""

    text: CliPositionalArg[str] = Field(description="the text; '-' reads standard input")
    add_special_tokens: bool = Field(
        default=False, description="apply the post-processor (e.g. prepend BOS)"
    )
    split_special_tokens: bool = Field(
        default=False,
        description="special-token strings in the text are ordinary text, never control ids",
    )
    lines: bool = Field(default=False, description="one input per line, one output line each")
    json_output: bool = Field(default=False, alias="json", description="machine-readable output")

    def run(self) -> int:
        tokenizer = self.card().load()
        for text in _inputs(self.text, self.lines):
            ids = tokenizer.encode(
                text,
                add_special_tokens=self.add_special_tokens,
                split_special_tokens=self.split_special_tokens,
            )
            _print(
                {"ids": ids, "backend": tokenizer.backend},
                self.json_output,
                lambda data: " ".join(str(i) for i in data["ids"]),
            )
        return 0


@card_command
class DecodeCommand(Command):
    """Print the text of IDS ('18 20 3', '18,20,3' or '[18, 20, 3]'; '-' reads stdin)."""

    ids: CliPositionalArg[str] = Field(description="the ids; '-' reads standard input")
    skip_special_tokens: bool = Field(
        default=False, description="drop special tokens from the text"
    )
    lines: bool = Field(default=False, description="one id list per line, one text each")
    json_output: bool = Field(default=False, alias="json", description="machine-readable output")

    def run(self) -> int:
        batch = [parse_ids(line) for line in _inputs(self.ids, self.lines) if line.strip()]
        tokenizer = self.card().load()
        for ids in batch:
            text = tokenizer.decode(ids, skip_special_tokens=self.skip_special_tokens)
            _print(
                {"text": text, "backend": tokenizer.backend, "decoder": tokenizer.decoder},
                self.json_output,
                lambda data: data["text"],
            )
        return 0


COMMANDS: dict[str, type[Command]] = {
    "inspect": InspectCommand,
    "encode": EncodeCommand,
    "decode": DecodeCommand,
}
