"""``modelcard tokenize INPUT OUTPUT``: the job's flags come from ``JobSettings``' fields.

Registered through ``modelcard.cli.COMMAND_MODULES``; nothing heavy is imported until
the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .settings import JobSettings

__all__ = ["register"]

_POSITIONAL = ("input", "output")


def _add_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("job")
    for name, field in JobSettings.model_fields.items():
        if name in _POSITIONAL:
            continue
        flag = "--" + name.replace("_", "-")
        options: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS}
        annotation = field.annotation
        args = typing.get_args(annotation)
        if annotation is bool or set(args) == {bool, type(None)}:
            options["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(annotation) is typing.Literal:
            options["choices"] = args
        elif int in args or annotation is int:
            options["type"] = int
        default = "" if field.default is None else f" (default: {field.default})"
        group.add_argument(flag, help=f"{field.description}{default}", **options)


def _summary(manifest: dict[str, Any]) -> str:
    line = (
        f"{manifest['rows']} rows, {manifest['tokens']} tokens in {manifest['seconds']:.1f}s "
        f"({manifest['backend']}, {manifest['engine']} x{manifest['workers']}) -> "
        f"{manifest['output']}"
    )
    if manifest["skipped"]:
        line += f"; skipped {manifest['skipped']} bad records, see {manifest['errors_report']}"
    return line


def _run(args: argparse.Namespace) -> int:
    from ..cli import card_from_args
    from .job import tokenize

    card = card_from_args(args)
    given = {name: getattr(args, name) for name in JobSettings.model_fields if hasattr(args, name)}
    manifest = tokenize(card, JobSettings(**given))
    sys.stdout.write((json.dumps(manifest) if args.json else _summary(manifest)) + "\n")
    return 0


def register(commands: Any, card_arguments: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the ``tokenize`` subcommand to the ``modelcard`` parser."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "tokenize",
        help="tokenize a JSONL or Parquet corpus into Parquet shards",
        description=(
            "Encode every record of INPUT (a .jsonl/.parquet file or a folder of them) "
            "and write Parquet shards to OUTPUT (source, row, ids, num_tokens) with "
            "OUTPUT/_manifest.json. Ids equal a plain loop of encode(). Multi-node Ray: "
            "see docs/cluster.md."
        ),
    )
    parser.add_argument("input", metavar="INPUT", type=Path)
    parser.add_argument("output", metavar="OUTPUT", type=Path)
    _add_flags(parser)
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    card_arguments(parser)
    parser.set_defaults(run=_run)
