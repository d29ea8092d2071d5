"""``modelcard tokenize INPUT OUTPUT``: the job's flags come from ``JobSettings``' fields.

Registered through ``modelcard.cli.COMMAND_MODULES``; nothing heavy is imported until
the command runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import Field, create_model
from pydantic_settings import CliPositionalArg

from ..cli import Command, card_command
from .settings import JobSettings

__all__ = ["COMMANDS", "TokenizeCommand"]

_POSITIONAL = ("input", "output")


def _summary(manifest: dict[str, Any]) -> str:
    line = (
        f"{manifest['rows']} rows, {manifest['tokens']} tokens in {manifest['seconds']:.1f}s "
        f"({manifest['backend']}, {manifest['engine']} x{manifest['workers']}) -> "
        f"{manifest['output']}"
    )
    if manifest["skipped"]:
        line += f"; skipped {manifest['skipped']} bad records, see {manifest['errors_report']}"
    return line


class _Tokenize(Command):
    """Tokenize a JSONL or Parquet corpus into Parquet shards.

    Encode every record of INPUT (a .jsonl/.parquet file or a folder of them) and write
    Parquet shards to OUTPUT (source, row, ids, num_tokens) with OUTPUT/_manifest.json.
    Ids equal a plain loop of encode(). Multi-node Ray: see docs/cluster.md.
    """

    input: CliPositionalArg[Path] = Field(description=JobSettings.model_fields["input"].description)
    output: CliPositionalArg[Path] = Field(
        description=JobSettings.model_fields["output"].description
    )
    json_output: bool = Field(default=False, alias="json", description="print the manifest as JSON")

    def run(self) -> int:
        from .job import tokenize

        given = {
            n: getattr(self, n) for n in JobSettings.model_fields if n in self.model_fields_set
        }
        manifest = tokenize(self.card(), JobSettings(**given))
        sys.stdout.write((json.dumps(manifest) if self.json_output else _summary(manifest)) + "\n")
        return 0


def _with_job_flags(command: type[Command]) -> type[Command]:
    """``command`` with one flag per JobSettings field, generated from that field."""
    fields: dict[str, Any] = {
        name: (info.annotation, Field(default=info.default, description=info.description))
        for name, info in JobSettings.model_fields.items()
        if name not in _POSITIONAL
    }
    made: type[Command] = create_model(
        command.__name__, __base__=command, __doc__=command.__doc__, **fields
    )
    return made


TokenizeCommand = card_command(_with_job_flags(_Tokenize))

COMMANDS: dict[str, type[Command]] = {"tokenize": TokenizeCommand}
