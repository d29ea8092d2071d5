"""The ``modelcard`` command.

The card's flags are generated from ``ModelCard``'s fields (``--model``, ``--tokenizer``,
``--tokenizer-fallback``/``--no-tokenizer-fallback``, ...), so they always match the
keyword arguments and the ``DYN_*`` variables. A flag that is not given leaves the
environment variable in charge. Failures print one line on stderr and exit non-zero:
2 for invalid settings or arguments, 1 for a card that cannot be loaded or used.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from .card import ModelCard
from .errors import ModelCardError

__all__ = ["build_parser", "card_arguments", "card_from_args", "main"]

EXIT_FAILURE = 1
EXIT_USAGE = 2


#: Modules that add a subcommand of their own, each with
#: ``register(commands, card_arguments)``; they import heavy dependencies lazily.
COMMAND_MODULES: tuple[str, ...] = ("modelcard.jobs.command", "modelcard.verify.command")


def card_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per ModelCard field to ``parser``."""
    group = parser.add_argument_group(
        "model card", "Each flag overrides its DYN_* environment variable."
    )
    for name, field in ModelCard.model_fields.items():
        flag = "--" + name.replace("_", "-")
        env = f"DYN_{name.upper()}"
        help_text = f"{field.description} [env {env}]"
        if field.annotation is bool:
            group.add_argument(
                flag,
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            group.add_argument(flag, dest=name, default=argparse.SUPPRESS, help=help_text)


def card_from_args(args: argparse.Namespace) -> ModelCard:
    """The ModelCard for parsed arguments: given flags, then DYN_* variables, then defaults."""
    given = {name: getattr(args, name) for name in ModelCard.model_fields if hasattr(args, name)}
    return ModelCard(**given)


def _print(data: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    sys.stdout.write((json.dumps(data, ensure_ascii=False) if as_json else human(data)) + "\n")


def _inspect_text(info: dict[str, Any]) -> str:
    rows: list[tuple[str, Any]] = [
        ("model", f"{info['model']} ({info['source']})"),
    ]
    if info["source"] == "hub":
        rows.append(("revision", f"{info['revision']} (commit {info['commit']})"))
    rows.extend(("file", f"{name}: {path}") for name, path in info["files"].items())
    backend = f"{info['backend']} (requested: {info['requested']})"
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


def _cmd_inspect(args: argparse.Namespace) -> int:
    tokenizer = card_from_args(args).load()
    _print(tokenizer.describe(), args.json, _inspect_text)
    return 0


def _cmd_encode(args: argparse.Namespace) -> int:
    tokenizer = card_from_args(args).load()
    ids = tokenizer.encode(args.text, add_special_tokens=args.add_special_tokens)
    _print(
        {"ids": ids, "backend": tokenizer.backend},
        args.json,
        lambda data: " ".join(str(i) for i in data["ids"]),
    )
    return 0


def _parse_ids(text: str) -> list[int]:
    cleaned = text.strip().removeprefix("[").removesuffix("]")
    parts = [p for p in cleaned.replace(",", " ").split() if p]
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"IDS must be integers separated by spaces or commas (or a JSON list), got {text!r}"
        ) from None


def _cmd_decode(args: argparse.Namespace) -> int:
    tokenizer = card_from_args(args).load()
    text = tokenizer.decode(args.ids, skip_special_tokens=args.skip_special_tokens)
    _print({"text": text, "backend": tokenizer.backend}, args.json, lambda data: data["text"])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelcard",
        description="Load a model's tokenizer (HF tokenizers or fastokens) and use it.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    inspect = commands.add_parser("inspect", help="show the files found, the backend and why")
    inspect.set_defaults(run=_cmd_inspect)

    encode = commands.add_parser("encode", help="print the token ids of TEXT")
    encode.add_argument("text", metavar="TEXT")
    encode.add_argument(
        "--add-special-tokens",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="apply the post-processor (e.g. prepend BOS); default off",
    )
    encode.set_defaults(run=_cmd_encode)

    decode = commands.add_parser("decode", help="print the text of IDS")
    decode.add_argument("ids", metavar="IDS", type=_parse_ids, help="e.g. '18 20 3' or '[18,20,3]'")
    decode.add_argument(
        "--skip-special-tokens",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="drop special tokens from the text; default off",
    )
    decode.set_defaults(run=_cmd_decode)

    for sub in (inspect, encode, decode):
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        card_arguments(sub)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands, card_arguments)
    return parser


def _configure_logging(verbosity: int) -> None:
    import structlog

    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)]
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


def _one_line(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        where = ".".join(str(p) for p in item["loc"])
        if item["type"] == "missing":
            message = f"required; set DYN_{where.upper()} or --{where.replace('_', '-')}"
        parts.append(message if where in message else f"{where}: {message}")
    return "; ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    import structlog

    parser = build_parser()
    args = parser.parse_args(argv)
    previous = structlog.get_config()
    _configure_logging(args.verbose)
    try:
        code: int = args.run(args)
    except ValidationError as exc:
        sys.stderr.write(f"modelcard: error: invalid settings: {_one_line(exc)}\n")
        return EXIT_USAGE
    except ModelCardError as exc:
        sys.stderr.write(f"modelcard: error: {exc}\n")
        return EXIT_FAILURE
    except BrokenPipeError:
        # The reader went away (`modelcard verify | head`): stop quietly, as cat does.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces a closed stream
        return EXIT_FAILURE
    finally:
        # main() may be called in-process (tests, embedding); leave logging as it was.
        structlog.configure(**previous)
    return code
