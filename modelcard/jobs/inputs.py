"""The job's input: which files, cut into tasks, read into records with their row numbers.

INPUT is a ``.jsonl``/``.ndjson`` or ``.parquet`` file, or a folder searched recursively
for them in sorted order (names starting with ``.`` or ``_`` are skipped, as Ray Data
does). JSONL is cut into chunks of whole lines; Parquet into row groups, read in
batches of ``batch_rows``. Nothing holds more than one chunk or batch of a file.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import JobError
from .records import BadRecord, check_value, parse_line

if TYPE_CHECKING:
    import pyarrow.parquet as pq

__all__ = [
    "InputFile",
    "JobError",
    "JsonlChunk",
    "ParquetGroup",
    "Parsed",
    "iter_jsonl_chunks",
    "iter_parquet_batches",
    "iter_parquet_groups",
    "iter_tasks",
    "list_inputs",
    "parse_jsonl_chunk",
]

JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")
Format = Literal["jsonl", "parquet"]


@dataclasses.dataclass(frozen=True, slots=True)
class InputFile:
    """One input file; ``source`` is its path relative to INPUT, the id written with its rows."""

    path: Path
    source: str
    format: Format
    size: int


def _format(path: Path) -> Format | None:
    name = path.name.lower()
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def list_inputs(root: Path) -> tuple[list[InputFile], list[str]]:
    """The input files under ``root``, sorted, and the other files that were left out."""
    root = root.expanduser()
    if root.is_file():
        fmt = _format(root)
        if fmt is None:
            raise JobError(
                f"INPUT {root} is neither JSONL nor Parquet: name it *.jsonl, *.ndjson, "
                "*.parquet or *.pq, or pass the folder that holds it."
            )
        return [InputFile(root.resolve(), root.name, fmt, root.stat().st_size)], []
    if not root.is_dir():
        raise JobError(f"INPUT {root} does not exist.")
    found: list[InputFile] = []
    ignored: list[str] = []
    base = root.resolve()
    for folder, dirs, names in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(names):
            path = Path(folder) / name
            source = path.relative_to(base).as_posix()
            fmt = _format(path)
            if name.startswith((".", "_")) or fmt is None:
                ignored.append(source)
                continue
            found.append(InputFile(path, source, fmt, path.stat().st_size))
    if not found:
        raise JobError(
            f"INPUT folder {root} holds no *.jsonl, *.ndjson, *.parquet or *.pq files"
            + (f" (it has: {', '.join(ignored[:5])})." if ignored else ".")
        )
    found.sort(key=lambda f: f.source)
    return found, ignored


@dataclasses.dataclass(slots=True)
class Parsed:
    """Records read from one chunk or batch of one file, in file order."""

    source: str
    rows: list[int] = dataclasses.field(default_factory=list)
    values: list[Any] = dataclasses.field(default_factory=list)
    bad: list[BadRecord] = dataclasses.field(default_factory=list)
    blank: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class JsonlChunk:
    """Whole lines of a JSONL file, ``length`` bytes from ``offset``; the first is line
    ``first_row``. The reader sends the position; the worker reads the bytes itself."""

    file: InputFile
    first_row: int
    offset: int
    length: int

    def read(self) -> bytes:
        with open(self.file.path, "rb") as stream:
            return os.pread(stream.fileno(), self.length, self.offset)


@dataclasses.dataclass(frozen=True, slots=True)
class ParquetGroup:
    """One row group of a Parquet file; its first row is row ``first_row`` of the file."""

    file: InputFile
    row_group: int
    first_row: int
    rows: int


Task = JsonlChunk | ParquetGroup


def iter_jsonl_chunks(
    stream: io.RawIOBase | io.BufferedIOBase, chunk_bytes: int
) -> Iterator[tuple[int, int, int]]:
    """``(first line number, offset, length)`` of consecutive runs of whole lines.

    Each run is about ``chunk_bytes`` long. A line longer than ``chunk_bytes`` makes a run
    of its own; a last line without a newline joins the run before it. This only reads
    and counts newlines, in place, so one reader keeps many encoders busy.
    """
    buffer = bytearray(chunk_bytes)
    size = 0  # the bytes after the last whole line, kept at the start of the buffer
    line = 1
    offset = 0  # where the buffer starts in the file
    held: tuple[int, int, int] | None = None  # the last run, until we know more follows
    while True:
        if len(buffer) - size < chunk_bytes:  # a line longer than a chunk
            buffer.extend(bytes(chunk_bytes))
        with memoryview(buffer) as view:
            read = stream.readinto(view[size : size + chunk_bytes]) or 0
        if not read:
            if held is not None:
                yield held[0], held[1], held[2] + size
            elif size:
                yield line, offset, size
            return
        end = size + read
        cut = buffer.rfind(b"\n", 0, end) + 1
        if not cut:
            size = end
            continue
        if held is not None:
            yield held
        held = (line, offset, cut)
        line += buffer.count(b"\n", 0, cut)
        offset += cut
        size = end - cut
        buffer[:size] = buffer[cut:end]


def parse_jsonl_chunk(source: str, first_row: int, data: bytes, field: str, chat: bool) -> Parsed:
    """Parse each line of a chunk; blank lines are counted, not records."""
    parsed = Parsed(source)
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    for offset, line in enumerate(lines):
        row = first_row + offset
        if not line.strip():
            parsed.blank += 1
            continue
        ok, value = parse_line(line, field, chat)
        if ok:
            parsed.rows.append(row)
            parsed.values.append(value)
        else:
            parsed.bad.append(BadRecord(source, row, *value))
    return parsed


def check_parquet_column(parquet: pq.ParquetFile, file: InputFile, field: str, chat: bool) -> None:
    """Fail up front when the column is missing or of the wrong type: every row would be bad."""
    import pyarrow as pa

    schema = parquet.schema_arrow
    if field not in schema.names:
        raise JobError(
            f"{file.source} has no column {field!r} (columns: {', '.join(schema.names)}); "
            "choose one with --field."
        )
    kind = schema.field(field).type
    if chat:
        ok = pa.types.is_list(kind) or pa.types.is_large_list(kind)
        wanted = "a list of chat messages"
    else:
        ok = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        ok = ok or pa.types.is_string_view(kind)
        wanted = "a string column"
    if not ok:
        raise JobError(f"{file.source}: column {field!r} is {kind}, not {wanted}.")


def iter_parquet_batches(
    parquet: pq.ParquetFile,
    file: InputFile,
    field: str,
    chat: bool,
    batch_rows: int,
    *,
    row_groups: list[int] | None = None,
    first_row: int = 1,
) -> Iterator[Parsed]:
    """Records of a Parquet file (or of some of its row groups), ``batch_rows`` at a time."""
    row = first_row
    for batch in parquet.iter_batches(
        batch_size=batch_rows, row_groups=row_groups, columns=[field], use_threads=False
    ):
        parsed = Parsed(file.source)
        for value in batch.column(0).to_pylist():
            problem = check_value(value, field, chat)
            if problem is None:
                parsed.rows.append(row)
                parsed.values.append(value)
            else:
                parsed.bad.append(BadRecord(file.source, row, *problem))
            row += 1
        yield parsed


def iter_tasks(
    files: list[InputFile], *, chunk_bytes: int, field: str, chat: bool
) -> Iterator[Task]:
    """The job's tasks in input order: JSONL chunks (their position) and Parquet row groups."""
    for file in files:
        if file.format == "jsonl":
            with open(file.path, "rb", buffering=0) as stream:
                for first_row, offset, length in iter_jsonl_chunks(stream, chunk_bytes):
                    yield JsonlChunk(file, first_row, offset, length)
            continue
        yield from iter_parquet_groups(file, field=field, chat=chat)


def iter_parquet_groups(file: InputFile, *, field: str, chat: bool) -> Iterator[ParquetGroup]:
    """One task per row group of a Parquet file, after checking its column."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(file.path) as parquet:
        check_parquet_column(parquet, file, field, chat)
        metadata = parquet.metadata
    first_row = 1
    for group in range(metadata.num_row_groups):
        rows = metadata.row_group(group).num_rows
        yield ParquetGroup(file, group, first_row, rows)
        first_row += rows
