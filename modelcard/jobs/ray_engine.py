"""``--engine ray``: Ray Data reads, an actor pool encodes, ``write_parquet`` writes.

* Connects with ``ray.init()``: to the cluster in ``RAY_ADDRESS`` when it is set, else to
  a new local Ray (shut down again at the end). A Ray the caller already started is used
  as it is.
* Reading is a Ray Data ``FileBasedDatasource`` (file listing, read tasks, retries,
  streaming blocks) whose ``_read_stream`` is the job's own record reader. Ray Data's
  ``read_json`` cannot do this job: it parses a file as a whole with one inferred
  schema, so one bad line fails the whole file (no ``--on-error skip``, no line number)
  and the pandas path converts values; ``read_text`` splits lines on U+2028 and other
  Unicode separators that JSON strings may hold. Parquet is read with pyarrow's
  ``ParquetFile``, batch by batch, to keep row numbers.
* Encoding is ``map_batches`` over an actor pool of ``workers`` actors, one CPU and one
  encode thread each; each actor unpickles the card once, which reloads it from the
  node's cache and checks the fingerprint.
* Writing is Ray Data's ``write_parquet``; row counts, tokens, bad records and the first
  modelcard error of an actor go to a small tally actor that feeds the progress bar,
  ``_errors.jsonl`` and the manifest, and lets the driver raise that error as itself.

Rows carry their ``source`` and ``row``; shard order is Ray's, not the input's.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import ray
import ray.data
from ray.data.datasource import FileBasedDatasource

from ..errors import ModelCardError
from .encode import encode_parsed, output_schema, output_table
from .inputs import (
    InputFile,
    Parsed,
    check_parquet_column,
    iter_jsonl_chunks,
    iter_parquet_batches,
    parse_jsonl_chunk,
)
from .local_engine import setup_worker_process
from .output import ErrorReport, Tally
from .records import BadRecord, RecordError

if TYPE_CHECKING:
    from ..card import ModelCard
    from ..tokenizer import Tokenizer
    from .progress import Progress
    from .settings import JobSettings

__all__ = ["run_ray"]

_BLANK = "blank_line"
_POLL_SECONDS = 0.5
# Ray Data cannot fuse read and write tasks with an actor stage, so each needs CPU of its
# own: an actor that holds a whole CPU per core would leave none, and the job would wait
# forever. Actors hold 0.8; reading (JSON parsing) and writing (Parquet) take 0.2 each.
_ACTOR_CPUS = 0.8
_IO_CPUS = 0.2
# Ray Data writes a file per block unless told to gather them; each write is a task.
_SHARD_BYTES = 64 * 2**20


def _records_schema() -> pa.Schema:
    # text is the record's text, or its chat messages as JSON; kind/reason mark a bad
    # record (or a blank line), which travels to the actors to be counted there: counting
    # in the read task would count twice when Ray retries a read.
    return pa.schema(
        [
            ("source", pa.string()),
            ("row", pa.int64()),
            ("text", pa.string()),
            ("kind", pa.string()),
            ("reason", pa.string()),
        ]
    )


class _RecordsDatasource(FileBasedDatasource):
    """JSONL and Parquet records with their source and row, read by Ray Data's read tasks."""

    def __init__(self, files: list[InputFile], settings: JobSettings) -> None:
        super().__init__([str(f.path) for f in files])
        self._files = {os.path.normpath(f.path): f for f in files}
        self._field = settings.text_field
        self._chat = settings.chat
        self._fail = settings.on_error == "fail"
        self._chunk_bytes = settings.chunk_bytes
        self._batch_rows = settings.batch_rows

    def _file(self, path: str) -> InputFile:
        return self._files[os.path.normpath(path)]

    def _open_input_source(self, filesystem: Any, path: str, **open_args: Any) -> Any:
        if self._file(path).format == "parquet":
            return filesystem.open_input_file(path)  # Parquet needs random access
        return super()._open_input_source(filesystem, path, **open_args)

    def _read_stream(self, f: Any, path: str) -> Iterator[pa.Table]:
        file = self._file(path)
        if file.format == "jsonl":
            for first_row, data in iter_jsonl_chunks(f, self._chunk_bytes):
                parsed = parse_jsonl_chunk(file.source, first_row, data, self._field, self._chat)
                yield self._block(parsed)
            return
        import pyarrow.parquet as pq

        with pq.ParquetFile(f) as parquet:
            check_parquet_column(parquet, file, self._field, self._chat)
            for parsed in iter_parquet_batches(
                parquet, file, self._field, self._chat, self._batch_rows
            ):
                yield self._block(parsed)

    def _block(self, parsed: Parsed) -> pa.Table:
        if self._fail and parsed.bad:
            raise RecordError(parsed.bad[0])
        values = parsed.values
        if self._chat:
            values = [json.dumps(v, ensure_ascii=False) for v in values]
        blanks = [None] * parsed.blank
        count = len(parsed.rows) + len(parsed.bad) + parsed.blank
        return pa.Table.from_pydict(
            {
                "source": [parsed.source] * count,
                "row": parsed.rows + [b.row for b in parsed.bad] + [0] * parsed.blank,
                "text": values + [None] * (len(parsed.bad) + parsed.blank),
                "kind": [None] * len(parsed.rows)
                + [b.kind for b in parsed.bad]
                + [_BLANK] * parsed.blank,
                "reason": [None] * len(parsed.rows) + [b.reason for b in parsed.bad] + blanks,
            },
            schema=_records_schema(),
        )


class _EncodeActor:
    """One Ray Data actor: loads the card once, encodes batches on one thread."""

    def __init__(self, payload: bytes, settings: JobSettings, tally: Any) -> None:
        setup_worker_process()
        self._settings = settings
        self._tally = tally
        self._load_error: ModelCardError | None = None
        card: ModelCard = pickle.loads(payload)
        try:
            self._tok: Tokenizer = card.load()
        except ModelCardError as exc:
            # Raised on the first batch instead: Ray reports an actor that fails in
            # __init__ as ActorDiedError with only a message, and the driver could not
            # raise FingerprintMismatchError (or whichever it was) as itself.
            self._load_error = exc

    def __call__(self, batch: pa.Table) -> pa.Table:
        try:
            if self._load_error is not None:
                raise self._load_error
            return self._encode(batch)
        except ModelCardError as exc:
            # Ray Data passes an error raised here to the driver as a message only; the
            # tally keeps the exception itself, for the driver to raise as it is.
            ray.get(self._tally.fail.remote(exc))
            raise

    def _encode(self, batch: pa.Table) -> pa.Table:
        settings = self._settings
        fallbacks = self._tok.encode_fallbacks
        sources = batch.column("source").to_pylist()
        rows = batch.column("row").to_pylist()
        texts = batch.column("text").to_pylist()
        kinds = batch.column("kind").to_pylist()
        reasons = batch.column("reason").to_pylist()
        tables: list[pa.Table] = []
        bad: list[BadRecord] = []
        blank = 0
        tokens = 0
        written = 0
        start = 0
        while start < len(sources):
            end = start
            while end < len(sources) and sources[end] == sources[start]:
                end += 1
            parsed = Parsed(sources[start])
            for i in range(start, end):
                if kinds[i] == _BLANK:
                    blank += 1
                elif kinds[i] is not None:
                    parsed.bad.append(BadRecord(sources[i], rows[i], kinds[i], reasons[i]))
                else:
                    parsed.rows.append(rows[i])
                    parsed.values.append(json.loads(texts[i]) if settings.chat else texts[i])
            encoded = encode_parsed(
                self._tok,
                parsed,
                chat=settings.chat,
                add_special_tokens=settings.add_special_tokens,
                on_error=settings.on_error,
            )
            tables.append(output_table(encoded))
            bad += encoded.bad
            tokens += encoded.tokens
            written += len(encoded.rows)
            start = end
        # Synchronous, so the tally has every batch before the dataset reports done.
        ray.get(
            self._tally.add.remote(
                written, tokens, bad, blank, self._tok.encode_fallbacks - fallbacks
            )
        )
        if not tables:
            return output_schema().empty_table()
        return pa.concat_tables(tables)


@ray.remote(num_cpus=0)
class _TallyActor:
    """Counts what the actors wrote; hands new bad records to the driver as it polls."""

    def __init__(self) -> None:
        self.tally = Tally()
        self.new_bad: list[BadRecord] = []
        self.failure: ModelCardError | None = None

    def add(self, rows: int, tokens: int, bad: list[BadRecord], blank: int, fallbacks: int) -> None:
        self.tally.add(
            rows=rows, tokens=tokens, bad=bad, blank_lines=blank, encode_fallbacks=fallbacks
        )
        self.new_bad += bad

    def fail(self, exc: ModelCardError) -> None:
        if self.failure is None:
            self.failure = exc

    def drain(self) -> tuple[Tally, list[BadRecord], ModelCardError | None]:
        new, self.new_bad = self.new_bad, []
        return self.tally, new, self.failure


def _cause(exc: BaseException) -> BaseException | None:
    """The modelcard error inside a Ray error, if there is one."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ModelCardError):
            return current
        as_instance = getattr(current, "as_instanceof_cause", None)
        if callable(as_instance):
            with contextlib.suppress(Exception):
                stack.append(as_instance())
        stack += [getattr(current, "cause", None), current.__cause__, current.__context__]
    return None


class RayJobError(ModelCardError, RuntimeError):
    """The Ray engine failed for a reason outside modelcard (cluster, resources, IO)."""


def _connect() -> bool:
    """Connect to RAY_ADDRESS or start a local Ray; True when this call started it."""
    if ray.is_initialized():
        return False
    if os.environ.get("RAY_ADDRESS"):
        ray.init()
    else:
        ray.init(include_dashboard=False)
    return True


def run_ray(
    card: ModelCard,
    files: list[InputFile],
    settings: JobSettings,
    output: Path,
    *,
    progress: Progress,
    report: ErrorReport | None,
) -> tuple[Tally, int]:
    """Run the job on Ray Data; return its tally and the actor pool size."""
    started_here = _connect()
    context = ray.data.DataContext.get_current()
    bars = context.enable_progress_bars
    context.enable_progress_bars = False  # ours counts tokens too
    try:
        cpus = ray.cluster_resources().get("CPU", 1)  # type: ignore[no-untyped-call]
        workers = settings.workers or max(1, int(cpus))
        tally = _TallyActor.remote()  # type: ignore[attr-defined]
        records = ray.data.read_datasource(_RecordsDatasource(files, settings), num_cpus=_IO_CPUS)
        dataset = records.map_batches(
            _EncodeActor,
            fn_constructor_args=(pickle.dumps(card), settings, tally),
            batch_format="pyarrow",
            batch_size=None,  # a block: one JSONL chunk or one Parquet read batch
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=_ACTOR_CPUS,
        )
        failure: list[BaseException] = []

        def write() -> None:
            try:
                dataset.write_parquet(
                    str(output),
                    compression="zstd",
                    min_bytes_per_file=_SHARD_BYTES,
                    ray_remote_args={"num_cpus": _IO_CPUS},
                )
            except BaseException as exc:
                failure.append(exc)

        writer = threading.Thread(target=write, name="modelcard-ray-write", daemon=True)
        writer.start()
        seen_rows = seen_tokens = 0
        while True:
            writer.join(_POLL_SECONDS)
            done = not writer.is_alive()
            counts, new_bad, actor_failure = ray.get(tally.drain.remote())
            if report is not None:
                report.write(new_bad)
            progress.update(counts.rows - seen_rows, counts.tokens - seen_tokens)
            seen_rows, seen_tokens = counts.rows, counts.tokens
            if done:
                break
        if failure:
            if actor_failure is not None:
                raise actor_failure from None
            cause = _cause(failure[0])
            if cause is not None:
                raise cause from None
            raise RayJobError(f"The Ray job failed: {failure[0]}") from failure[0]
        counts.shards = sorted(p.name for p in output.glob("*.parquet"))
        return counts, workers
    finally:
        context.enable_progress_bars = bars
        if started_here:
            ray.shutdown()
