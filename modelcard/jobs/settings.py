"""``JobSettings``: what a tokenize job reads, how it encodes, and where it runs.

Invalid values fail at construction with pydantic's ``ValidationError``, like
``ModelCard``'s, so the CLI reports them the same way (one line, exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["JobSettings"]

MiB = 2**20


class JobSettings(BaseModel):
    """Settings of one ``modelcard tokenize`` run (the card's own settings live in the card)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: Path = Field(
        description="A .jsonl/.ndjson or .parquet file, or a folder of them (searched recursively)."
    )
    output: Path = Field(
        description="Folder for the Parquet shards, _manifest.json, _errors.jsonl."
    )
    field: str | None = Field(
        default=None,
        min_length=1,
        description="Record field holding the text; default 'text' ('messages' with --chat).",
    )
    chat: bool = Field(
        default=False,
        description=(
            "Each record's field is a list of chat messages; render it with the card's chat "
            "template (whole conversation, no generation prompt) before encoding."
        ),
    )
    trust_content: bool = Field(
        default=False,
        description=(
            "With --chat, encode special-token strings inside message content as control "
            "tokens, as transformers does; by default only the template's own are."
        ),
    )
    add_special_tokens: bool = Field(
        default=False,
        description="Apply the post-processor (e.g. prepend BOS), as encode(..., True) does.",
    )
    on_error: Literal["skip", "fail"] = Field(
        default="fail",
        description=(
            "A bad record (malformed JSON, missing field, non-string value, template failure): "
            "'fail' stops the job naming the file and line; 'skip' leaves it out, counts it "
            "and lists it in _errors.jsonl."
        ),
    )
    engine: Literal["local", "ray"] = Field(
        default="local",
        description="'local': a process pool on this machine. 'ray': Ray tasks (RAY_ADDRESS).",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Encoding processes (local) or Ray tasks at a time (ray), each on one thread; default: "
            "the CPUs of this machine (local) or of the Ray cluster (ray)."
        ),
    )
    chunk_bytes: int = Field(
        default=4 * MiB,
        ge=1024,
        description="JSONL is cut into tasks of about this many bytes (whole lines).",
    )
    batch_rows: int = Field(
        default=4096,
        ge=1,
        description="Rows per Parquet read batch; a batch, like a JSONL chunk, is one encode call.",
    )
    overwrite: bool = Field(
        default=False,
        description=(
            "Replace the shards, _manifest.json and _errors.jsonl of an earlier run in OUTPUT."
        ),
    )
    progress: bool | None = Field(
        default=None,
        description="Show a progress bar on stderr; default: when stderr is a terminal.",
    )

    @property
    def text_field(self) -> str:
        """The record field to read: ``field``, else ``messages`` with chat, else ``text``."""
        if self.field is not None:
            return self.field
        return "messages" if self.chat else "text"
