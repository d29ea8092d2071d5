"""The job's output folder: Parquet shards, ``_errors.jsonl`` and ``_manifest.json``.

The two reports start with ``_`` so that Parquet readers given the folder (pyarrow,
pandas, Ray Data, HF datasets) skip them and read the shards alone.

OUTPUT holds a whole job or nothing. The job writes into a hidden sibling folder,
``.OUTPUT.tokenize-HOST-PID-XXXXXXXX``, and renames it to OUTPUT once the manifest is
written; a job that fails, or is interrupted, removes it and leaves OUTPUT as it was.
With ``--overwrite`` the earlier OUTPUT is set aside (``.OUTPUT.replaced-...``) only for
the two renames. A job killed outright (SIGKILL, a lost node) cannot clean up: the next
job on that OUTPUT removes such folders once the process named in them has ended, and
input listings skip them (their names start with ``.``).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
from pathlib import Path
from typing import IO, Any

from .inputs import JobError
from .records import BadRecord

__all__ = [
    "ERRORS",
    "MANIFEST",
    "ErrorReport",
    "Staging",
    "Tally",
    "check_output",
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
                "--overwrite to replace the shards and manifest of an earlier run (only once "
                "the new run is complete)."
            )
        others = [p.name for p in entries if not _is_ours(p)]
        if others:
            raise JobError(
                f"OUTPUT {output} holds files a tokenize job did not write "
                f"({', '.join(others[:5])}); --overwrite only replaces a folder that holds "
                f"nothing but *.parquet, {MANIFEST} and {ERRORS}. Choose another folder."
            )
    return output


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class Staging:
    """The hidden folder a job writes into, renamed to OUTPUT when the job is complete."""

    def __init__(self, output: Path, input_root: Path, *, overwrite: bool) -> None:
        self.output = check_output(output, input_root, overwrite=overwrite)
        self._input_root = input_root
        self._overwrite = overwrite
        self._host = socket.gethostname()
        self._tag = f"{self._host}-{os.getpid()}-{secrets.token_hex(4)}"
        self.path = self.output.parent / f".{self.output.name}.tokenize-{self._tag}"

    def create(self) -> Path:
        """Make the folder (and OUTPUT's parent); nothing is written to OUTPUT itself."""
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.path.mkdir()
        return self.path

    def remove_leftovers(self) -> list[Path]:
        """Remove what killed jobs on this host left beside OUTPUT; return what went."""
        pattern = re.compile(
            re.escape(f".{self.output.name}.")
            + r"(?:tokenize|replaced)-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8}"
        )
        removed: list[Path] = []
        for path in self.output.parent.iterdir():
            match = pattern.fullmatch(path.name)
            if match is None or path == self.path or not path.is_dir():
                continue
            if match["host"] == self._host and not _pid_alive(int(match["pid"])):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        return removed

    def commit(self) -> Path:
        """Rename the folder to OUTPUT, replacing an earlier run's OUTPUT with overwrite."""
        output = self.output
        if output.is_dir() and any(output.iterdir()):
            # Checked again: files may have appeared in OUTPUT while the job ran.
            check_output(output, self._input_root, overwrite=self._overwrite)
            aside = output.parent / f".{output.name}.replaced-{self._tag}"
            os.rename(output, aside)
            try:
                os.rename(self.path, output)
            except BaseException:
                os.rename(aside, output)
                raise
            shutil.rmtree(aside, ignore_errors=True)
        else:
            # os.replace() takes the place of an empty folder too.
            os.replace(self.path, output)
        return output

    def discard(self) -> None:
        """Remove the folder and whatever the job wrote into it."""
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.path)


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
