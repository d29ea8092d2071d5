"""``--engine ray``: the local engine's tasks on a Ray Data actor pool.

* The job connects first (:mod:`modelcard.jobs.ray_start`): to the cluster in
  ``RAY_ADDRESS`` when it is set, else to a new local Ray (shut down again at the end);
  while Ray starts, threads import Ray Data and this module, cut the input and load the
  card (the load runs outside the GIL), so none of them waits for another.
* The driver cuts the input as the local engine's reader does (JSONL into chunks of
  whole lines, counting lines; Parquet into row groups) and hands Ray Data one read
  task per chunk. A read task yields one row, the chunk's position; with the same CPU
  request as the actors, Ray Data fuses it into them, so the actor that encodes a chunk
  also reads it (from the shared filesystem, as every node sees INPUT), parses it and
  writes its shard ``part-NNNNNN.parquet``, numbered in input order as the local
  engine's. What comes back to the driver is one small row per task: the shard's name,
  its counts and the bad records, which feed the progress bar, ``_errors.jsonl`` and
  the manifest as they arrive.
* Encoding is a pool of ``workers`` actors, one encode thread each; each actor
  unpickles the pinned card once, which reloads it from the node's cache and checks the
  fingerprint, then runs the same code as a local worker (:mod:`modelcard.jobs.worker`).

Why not Ray Data's own readers and writer: ``read_json`` parses a file as a whole with
one inferred schema, so one bad line fails the whole file (no ``--on-error skip``, no
line number), ``read_text`` splits lines on U+2028 and other separators that JSON strings
may hold, and ``read_parquet`` gives no row numbers. ``write_parquet`` works, but it runs
as separate write tasks: every id crosses the object store a second time, each node
needs worker processes beside its actors, and a 2-CPU node spends more on those
processes than on the writing; see docs/cluster.md for the figures.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import ray
import ray.data
import structlog
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from ..errors import ModelCardError
from .inputs import Task
from .output import ErrorReport, Tally
from .ray_start import RayJobError
from .worker import LoadInfo, TaskResult, load_tokenizer, setup_worker_process, write_shard

if TYPE_CHECKING:
    from ..tokenizer import Tokenizer
    from .progress import Progress
    from .settings import JobSettings

__all__ = ["RayJobError", "run_ray"]

log = structlog.get_logger("modelcard")
_TASK = pa.schema([("seq", pa.int64()), ("task", pa.binary())])
_RESULT = pa.schema([("result", pa.binary())])


def _task_block(seq: int, task: Task) -> list[pa.Table]:
    return [
        pa.Table.from_arrays(
            [pa.array([seq], pa.int64()), pa.array([pickle.dumps(task)], pa.binary())],
            schema=_TASK,
        )
    ]


class _TasksDatasource(Datasource):
    """The job's tasks, one read task and one single-row block each."""

    def __init__(self, tasks: list[Task], size: int) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._tasks = tasks
        self._bytes = size

    def __len__(self) -> int:
        return len(self._tasks)

    def estimate_inmemory_data_size(self) -> int:
        return self._bytes

    def get_read_tasks(
        self,
        parallelism: int,
        per_task_row_limit: int | None = None,
        data_context: Any = None,
    ) -> list[ReadTask]:
        tasks = []
        for seq, task in enumerate(self._tasks):
            size = getattr(task, "length", None) or self._bytes // max(1, len(self._tasks))
            metadata = BlockMetadata(
                num_rows=1, size_bytes=size, input_files=(str(task.file.path),), exec_stats=None
            )

            def read(seq: int = seq, task: Task = task) -> list[pa.Table]:
                return _task_block(seq, task)

            tasks.append(ReadTask(read, metadata, schema=_TASK))
        return tasks

    def get_name(self) -> str:
        return "Tasks"


class _EncodeActor:
    """One Ray Data actor: loads the card once, runs tasks on one thread."""

    def __init__(self, payload: bytes, settings: JobSettings, output: str) -> None:
        setup_worker_process()
        self._settings = settings
        self._output = Path(output)
        self._load_error: ModelCardError | None = None
        try:
            self._tok: Tokenizer = load_tokenizer(payload, chat=settings.chat)[0]
        except ModelCardError as exc:
            # Reported with the first task: Ray reports an actor that fails in __init__
            # as ActorDiedError with only a message.
            self._load_error = exc

    def __call__(self, batch: pa.Table) -> pa.Table:
        results = []
        for seq, task in zip(
            batch.column("seq").to_pylist(), batch.column("task").to_pylist(), strict=True
        ):
            shard = f"part-{seq:06d}.parquet"
            result: TaskResult | ModelCardError
            try:
                if self._load_error is not None:
                    raise self._load_error
                job = pickle.loads(task)
                result = write_shard(self._tok, job, self._settings, self._output, shard)
            except ModelCardError as exc:
                # Returned, not raised: Ray would pass the driver its message only, and the
                # driver could not raise RecordError (or whichever it was) as itself.
                result = exc
            results.append(pickle.dumps(result))
        return pa.Table.from_arrays([pa.array(results, pa.binary())], schema=_RESULT)


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


def _results(dataset: ray.data.Dataset) -> Iterator[TaskResult]:
    """Each task's result as it arrives; the first modelcard error an actor met, raised."""
    batches = dataset.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0)
    for batch in batches:
        assert isinstance(batch, pa.Table)
        for value in batch.column("result").to_pylist():
            result: TaskResult | ModelCardError = pickle.loads(value)
            if isinstance(result, ModelCardError):
                raise result
            yield result


def run_ray(
    loading: concurrent.futures.Future[tuple[Any, LoadInfo]],
    cutting: concurrent.futures.Future[list[Task]],
    size: int,
    settings: JobSettings,
    output: Path,
    *,
    progress: Progress,
    report: ErrorReport | None,
) -> tuple[Tally, LoadInfo, int]:
    """Run the job on the connected Ray, once the driver's card load and cut are done.

    ``size`` is the input's size in bytes. Returns the tally, what the driver loaded,
    and the actor pool's size.
    """
    context = ray.data.DataContext.get_current()
    saved = context.enable_progress_bars
    context.enable_progress_bars = False  # ours counts tokens too
    try:
        source = _TasksDatasource(cutting.result(), size)
        info = loading.result()[1]
        cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        workers = settings.workers or max(1, cpus)
        if workers > cpus:
            log.warning("workers_exceed_cores", requested=workers, cores=cpus, engine="ray")
        # One CPU per actor, or a share of them when asked for more actors than CPUs.
        remote = {"num_cpus": min(1.0, cpus / workers) if cpus else 1.0}
        tasks = ray.data.read_datasource(source, override_num_blocks=max(1, len(source)), **remote)
        dataset = tasks.map_batches(
            _EncodeActor,
            fn_constructor_args=(info.pinned, settings, str(output)),
            batch_format="pyarrow",
            batch_size=None,  # a block: one task
            # min_size=1: an input of fewer tasks than actors is no reason to warn.
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers, initial_size=workers),
            **remote,
        )
        tally = Tally()
        try:
            for result in _results(dataset):
                tally.add(
                    rows=result.rows,
                    tokens=result.tokens,
                    bad=result.bad,
                    blank_lines=result.blank_lines,
                    encode_fallbacks=result.encode_fallbacks,
                )
                if result.shard is not None:
                    tally.shards.append(result.shard)
                if report is not None:
                    report.write(result.bad)
                progress.update(result.rows, result.tokens)
        except ModelCardError:
            raise
        except Exception as exc:
            cause = _cause(exc)
            if cause is not None:
                raise cause from None
            raise RayJobError(f"The Ray job failed: {exc}") from exc
        return tally, info, workers
    finally:
        context.enable_progress_bars = saved
