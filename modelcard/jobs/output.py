"""The job's output folder: Parquet shards, ``_errors.jsonl`` and ``_manifest.json``.

The two reports start with ``_`` so that Parquet readers given the folder (pyarrow,
pandas, Ray Data, HF datasets) skip them and read the shards alone. The manifest is
written last, atomically: a folder with a manifest holds a finished job. A job that
stops on a bad record leaves the shards it wrote but no manifest.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any

from .inputs import JobError
from .records import BadRecord

__all__ = [
    "ERRORS",
    "MANIFEST",
    "ErrorReport",
    "Tally",
    "check_output",
    "prepare_output",
    "write_manifest",
]

MANIFEST = "_manifest.json"
ERRORS = "_errors.jsonl"


def _is_ours(path: Path) -> bool:
    return path.is_file() and (path.suffix == ".parquet" or path.name in (MANIFEST, ERRORS))


def check_output(output: Path, input_root: Path, *, overwrite: bool) -> Path:
    """Fail early when OUTPUT cannot take this job's files; change nothing."""
    output = output.expanduser().resolve()
    root = input_root.expanduser().resolve()
    if root.is_dir() and output.is_relative_to(root):
        raise JobError(
            f"OUTPUT {output} is inside INPUT {root}: its shards would be read as input "
            "next time. Choose a folder outside INPUT."
        )
    if output.exists() and not output.is_dir():
        raise JobError(f"OUTPUT {output} exists and is not a folder.")
    if output.is_dir():
        entries = sorted(output.iterdir())
        if entries and not overwrite:
            raise JobError(
                f"OUTPUT {output} is not empty. Choose an empty or new folder, or pass "
                "--overwrite to replace the shards and manifest of an earlier run."
            )
        others = [p.name for p in entries if not _is_ours(p)]
        if others:
            raise JobError(
                f"OUTPUT {output} holds files a tokenize job did not write "
                f"({', '.join(others[:5])}); --overwrite only removes *.parquet, "
                f"{MANIFEST} and {ERRORS}. Choose another folder."
            )
    return output


def prepare_output(output: Path, input_root: Path, *, overwrite: bool) -> Path:
    """Create OUTPUT, or empty an earlier run's files from it with ``overwrite``."""
    output = check_output(output, input_root, overwrite=overwrite)
    if output.is_dir():
        for path in output.iterdir():
            path.unlink()
    output.mkdir(parents=True, exist_ok=True)
    return output


class ErrorReport:
    """``_errors.jsonl``: one line per skipped record (source, row, kind, reason)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] = open(path, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, records: list[BadRecord]) -> None:
        for record in records:
            self._file.write(json.dumps(record.as_dict(), ensure_ascii=False) + "\n")

    def close(self) -> None:
        self._file.close()


@dataclasses.dataclass
class Tally:
    """What the job did so far: rows and tokens written, records skipped by kind."""

    rows: int = 0
    tokens: int = 0
    blank_lines: int = 0
    encode_fallbacks: int = 0
    skipped: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    shards: list[str] = dataclasses.field(default_factory=list)

    def add(
        self,
        *,
        rows: int,
        tokens: int,
        bad: list[BadRecord],
        blank_lines: int = 0,
        encode_fallbacks: int = 0,
    ) -> None:
        self.rows += rows
        self.tokens += tokens
        self.blank_lines += blank_lines
        self.encode_fallbacks += encode_fallbacks
        self.skipped.update(record.kind for record in bad)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "tokens": self.tokens,
            "skipped": sum(self.skipped.values()),
            "skipped_by_kind": dict(sorted(self.skipped.items())),
            "blank_lines": self.blank_lines,
            "encode_fallbacks": self.encode_fallbacks,
        }


def write_manifest(output: Path, manifest: dict[str, Any]) -> Path:
    """Write ``_manifest.json`` atomically (temp file, then rename)."""
    path = output / MANIFEST
    fd, tmp = tempfile.mkstemp(dir=output, prefix=".manifest-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(manifest, file, indent=2, ensure_ascii=False)
            file.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
