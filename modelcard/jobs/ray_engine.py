"""``--engine ray``: Ray Data reads, an actor pool encodes, ``write_parquet`` writes.

* Connects with ``ray.init()``: to the cluster in ``RAY_ADDRESS`` when it is set, else to
  a new local Ray (shut down again at the end). A Ray the caller already started is used
  as it is. The driver loads the card in a thread meanwhile (the load runs outside the
  GIL), so neither waits for the other.
* Reading is a Ray Data datasource whose read tasks are the local engine's reader: one
  task per JSONL file cuts it into chunks of whole lines (``--chunk-bytes``, 4 MiB) and
  counts lines, one block per chunk; one task per Parquet row group. A block is one row
  holding the pickled task, so it is as large as the chunk, not Ray's default, and the
  reading tasks only read: parsing, the Python work, happens in the actors. Ray Data's
  ``read_json`` cannot do this job: it parses a file as a whole with one inferred schema,
  so one bad line fails the whole file (no ``--on-error skip``, no line number), and
  ``read_text`` splits lines on U+2028 and other separators that JSON strings may hold.
  ``read_parquet`` gives no row numbers, so Parquet is read by the actors, a row group
  at a time, as the local workers do.
* Encoding is ``map_batches`` over a pool of ``workers`` actors, one encode thread each;
  each actor unpickles the pinned card once, which reloads it from the node's cache and
  checks the fingerprint, then runs the same code as a local worker
  (:mod:`modelcard.jobs.worker`).
* Writing is Ray Data's ``write_parquet``, one file per block, with the local engine's
  Parquet options. Row counts, tokens, bad records and the first modelcard error of an
  actor go to a small tally actor that feeds the progress bar, ``_errors.jsonl`` and the
  manifest, and lets the driver raise that error as itself.

Rows carry their ``source`` and ``row``; shard order is Ray's, not the input's.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import ray
import ray.data
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from ..errors import ModelCardError
from .encode import output_schema, output_table, parquet_options
from .inputs import (
    InputFile,
    JsonlChunk,
    ParquetGroup,
    Task,
    iter_jsonl_chunks,
    iter_parquet_groups,
)
from .output import ErrorReport, Tally
from .worker import LoadInfo, TaskResult, iter_encoded, load_tokenizer, setup_worker_process

if TYPE_CHECKING:
    from ..card import ModelCard
    from ..tokenizer import Tokenizer
    from .progress import Progress
    from .settings import JobSettings

__all__ = ["RayJobError", "run_ray"]

_POLL_SECONDS = 0.5
# An actor encodes on one thread and holds 0.9 CPU, so that with one actor per CPU the
# reading and writing tasks (mostly IO, 0.05 CPU each) still find room on every node;
# Ray Data cannot fuse them into the actors.
_ACTOR_CPUS = 0.9
_IO_CPUS = 0.05
_TASK = pa.schema([("task", pa.binary())])


def _block(task: Task) -> pa.Table:
    return pa.Table.from_arrays([pa.array([pickle.dumps(task)], pa.binary())], schema=_TASK)


def _read_jsonl(file: InputFile, chunk_bytes: int) -> Iterator[pa.Table]:
    with open(file.path, "rb") as stream:
        for first_row, offset, data in iter_jsonl_chunks(stream, chunk_bytes):
            yield _block(JsonlChunk(file, first_row, offset, len(data), data))


def _read_group(group: ParquetGroup) -> list[pa.Table]:
    return [_block(group)]


class _TasksDatasource(Datasource):
    """The job's tasks as blocks of one row: JSONL chunks (read here), Parquet row groups."""

    def __init__(self, files: list[InputFile], settings: JobSettings) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._files = files
        self._chunk_bytes = settings.chunk_bytes
        # Checked on the driver, before anything starts: a wrong column fails every row.
        self._groups = {
            file.source: list(
                iter_parquet_groups(file, field=settings.text_field, chat=settings.chat)
            )
            for file in files
            if file.format == "parquet"
        }

    def estimate_inmemory_data_size(self) -> int:
        return sum(file.size for file in self._files)

    def read_task_count(self) -> int:
        return sum(len(self._groups.get(file.source, [None])) for file in self._files)

    def get_read_tasks(
        self,
        parallelism: int,
        per_task_row_limit: int | None = None,
        data_context: Any = None,
    ) -> list[ReadTask]:
        tasks: list[ReadTask] = []
        for file in self._files:
            reads: list[tuple[Callable[[], Any], int]]
            if file.format == "jsonl":
                chunk_bytes = self._chunk_bytes

                def read(file: InputFile = file, chunk_bytes: int = chunk_bytes) -> Any:
                    return _read_jsonl(file, chunk_bytes)

                reads = [(read, file.size)]
            else:
                groups = self._groups[file.source]
                size = file.size // max(1, len(groups))
                reads = [(functools.partial(_read_group, group), size) for group in groups]
            for read_fn, size in reads:
                metadata = BlockMetadata(
                    num_rows=None,
                    size_bytes=size,
                    input_files=(str(file.path),),
                    exec_stats=None,
                )
                tasks.append(ReadTask(read_fn, metadata, schema=_TASK))
        return tasks

    def get_name(self) -> str:
        return "Tasks"


class _EncodeActor:
    """One Ray Data actor: loads the card once, encodes tasks on one thread."""

    def __init__(self, payload: bytes, settings: JobSettings, tally: Any) -> None:
        setup_worker_process()
        self._settings = settings
        self._tally = tally
        self._load_error: ModelCardError | None = None
        try:
            self._tok: Tokenizer = load_tokenizer(payload, chat=settings.chat)[0]
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
        fallbacks = self._tok.encode_fallbacks
        result = TaskResult()
        tables: list[pa.Table] = []
        for cell in batch.column("task").chunks:
            for value in cell:
                task: Task = pickle.loads(value.as_buffer())
                for encoded in iter_encoded(self._tok, task, self._settings):
                    if len(encoded.rows):
                        tables.append(output_table(encoded))
                    result.add(encoded)
        result.encode_fallbacks = self._tok.encode_fallbacks - fallbacks
        # Synchronous, so the tally has every batch before the dataset reports done.
        ray.get(self._tally.add.remote(result))
        if not tables:
            return output_schema().empty_table()
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


@ray.remote(num_cpus=0)
class _TallyActor:
    """Counts what the actors wrote; hands new bad records to the driver as it polls."""

    def __init__(self) -> None:
        self.tally = Tally()
        self.new_bad: list[Any] = []
        self.failure: ModelCardError | None = None

    def add(self, result: TaskResult) -> None:
        self.tally.add(
            rows=result.rows,
            tokens=result.tokens,
            bad=result.bad,
            blank_lines=result.blank_lines,
            encode_fallbacks=result.encode_fallbacks,
        )
        self.new_bad += result.bad

    def fail(self, exc: ModelCardError) -> None:
        if self.failure is None:
            self.failure = exc

    def drain(self) -> tuple[Tally, list[Any], ModelCardError | None]:
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
        ray.init(log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False)
    return True


class _Poller:
    """Feeds the progress bar and ``_errors.jsonl`` from the tally while Ray Data runs."""

    def __init__(self, tally: Any, progress: Progress, report: ErrorReport | None) -> None:
        self._tally = tally
        self._progress = progress
        self._report = report
        self._seen = (0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modelcard-ray-poll", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(_POLL_SECONDS):
            with contextlib.suppress(Exception):  # the last drain, after stop(), raises
                self.drain()

    def drain(self) -> tuple[Tally, ModelCardError | None]:
        counts, new_bad, failure = ray.get(self._tally.drain.remote())
        if self._report is not None:
            self._report.write(new_bad)
        rows, tokens = self._seen
        self._progress.update(counts.rows - rows, counts.tokens - tokens)
        self._seen = (counts.rows, counts.tokens)
        return counts, failure

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_ray(
    card: ModelCard,
    files: list[InputFile],
    settings: JobSettings,
    output: Path,
    *,
    progress: Progress,
    report: ErrorReport | None,
) -> tuple[Tally, LoadInfo, int]:
    """Run the job on Ray Data; return its tally, what the driver loaded, the pool size."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="modelcard-load") as pool:
        loading = pool.submit(load_tokenizer, card, chat=settings.chat)
        started_here = _connect()
        try:
            info = loading.result()[1]
        except BaseException:
            if started_here:
                ray.shutdown()
            raise
    context = ray.data.DataContext.get_current()
    bars = context.enable_progress_bars
    context.enable_progress_bars = False  # ours counts tokens too
    try:
        cpus = ray.cluster_resources().get("CPU", 1)  # type: ignore[no-untyped-call]
        workers = settings.workers or max(1, int(cpus))
        tally = _TallyActor.remote()  # type: ignore[attr-defined]
        source = _TasksDatasource(files, settings)
        tasks = ray.data.read_datasource(
            source, override_num_blocks=max(1, source.read_task_count()), num_cpus=_IO_CPUS
        )
        dataset = tasks.map_batches(
            _EncodeActor,
            fn_constructor_args=(info.pinned, settings, tally),
            batch_format="pyarrow",
            batch_size=None,  # a block: one task
            # min_size=1: an input of fewer tasks than actors is no reason to warn.
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers, initial_size=workers),
            num_cpus=_ACTOR_CPUS,
        )
        poller = _Poller(tally, progress, report)
        failure: BaseException | None = None
        try:
            dataset.write_parquet(
                str(output), ray_remote_args={"num_cpus": _IO_CPUS}, **parquet_options()
            )
        except ModelCardError:
            raise
        except Exception as exc:
            failure = exc
        finally:
            poller.stop()
        counts, actor_failure = poller.drain()
        if failure is not None:
            if actor_failure is not None:
                raise actor_failure from None
            cause = _cause(failure)
            if cause is not None:
                raise cause from None
            raise RayJobError(f"The Ray job failed: {failure}") from failure
        counts.shards = sorted(p.name for p in output.glob("*.parquet"))
        return counts, info, workers
    finally:
        context.enable_progress_bars = bars
        if started_here:
            ray.shutdown()
