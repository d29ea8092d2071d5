"""``--engine ray``: the local engine's tasks as Ray Data read tasks.

* The job connects first (:mod:`modelcard.jobs.ray_start`): to the cluster in
  ``RAY_ADDRESS`` when it is set, else to a new local Ray (shut down again at the end);
  while Ray starts, threads import Ray Data and this module, cut the input and load the
  card (the load runs outside the GIL), so none of them waits for another.
* The driver cuts the input as the local engine's reader does (JSONL into chunks of
  whole lines, counting lines; Parquet into row groups) and hands Ray Data one read
  task per chunk, at most ``workers`` at a time, one CPU each. A read task reads its
  chunk (from the shared filesystem, as every node sees INPUT), parses it, encodes it
  and writes its shard ``part-NNNNNN.parquet``, numbered in input order as the local
  engine's. What comes back to the driver is one small row per task: the shard's name,
  its counts and the bad records, which feed the progress bar, ``_errors.jsonl`` and
  the manifest as they arrive.
* Each Ray worker process loads the pinned card on its first task and keeps it for the
  job's later tasks (Ray reuses a job's worker processes), one encode thread each; the
  load reloads the card from the node's cache and checks the fingerprint, then the task
  runs the same code as a local worker (:mod:`modelcard.jobs.worker`).

Why read tasks and not an actor pool (``map_batches`` with a class): on a 2-CPU node an
actor pool cost a third Python process (Ray Data's actor location tracker) and actors
that started in new processes after Ray's prestarted workers were already up, for the
same card loads: read tasks run in the worker processes Ray starts with the cluster.

Why not Ray Data's own readers and writer: ``read_json`` parses a file as a whole with
one inferred schema, so one bad line fails the whole file (no ``--on-error skip``, no
line number), ``read_text`` splits lines on U+2028 and other separators that JSON strings
may hold, and ``read_parquet`` gives no row numbers. ``write_parquet`` works, but it runs
as separate write tasks: every id crosses the object store a second time, and a 2-CPU
node spends more on those tasks' processes and transfers than on the writing; see
docs/cluster.md for the figures.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
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
from .ray_start import RayJobError, task_cpus
from .worker import LoadInfo, TaskResult, loaded_tokenizer, write_shard

if TYPE_CHECKING:
    from .progress import Progress
    from .settings import JobSettings

__all__ = ["RayJobError", "run_ray"]

log = structlog.get_logger("modelcard")
_RESULT = pa.schema([("result", pa.binary())])


def _encode_task(
    seq: int, task: Task, payload: bytes, settings: JobSettings, output: str
) -> list[pa.Table]:
    """One read task: encode a chunk into its shard, return one row of what it did."""
    result: TaskResult | ModelCardError
    try:
        tok = loaded_tokenizer(payload, chat=settings.chat)
        result = write_shard(tok, task, settings, Path(output), f"part-{seq:06d}.parquet")
    except ModelCardError as exc:
        # Returned, not raised: Ray would pass the driver its message only, and the
        # driver could not raise RecordError (or whichever it was) as itself.
        result = exc
    return [pa.Table.from_arrays([pa.array([pickle.dumps(result)], pa.binary())], schema=_RESULT)]


class _TasksDatasource(Datasource):
    """The job's tasks, one read task each, which encodes its chunk and writes its shard."""

    def __init__(
        self, tasks: list[Task], size: int, payload: bytes, settings: JobSettings, output: str
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._tasks = tasks
        self._bytes = size
        self._args = (payload, settings, output)

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
        payload, settings, output = self._args
        for seq, task in enumerate(self._tasks):
            metadata = BlockMetadata(
                num_rows=1, size_bytes=64, input_files=(str(task.file.path),), exec_stats=None
            )
            read = functools.partial(_encode_task, seq, task, payload, settings, output)
            tasks.append(ReadTask(read, metadata, schema=_RESULT))
        return tasks

    def get_name(self) -> str:
        return "EncodeChunks"


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
    """Each task's result as it arrives; the first modelcard error a task met, raised."""
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
    and how many tasks ran at a time.
    """
    context = ray.data.DataContext.get_current()
    saved = context.enable_progress_bars
    context.enable_progress_bars = False  # ours counts tokens too
    try:
        info = loading.result()[1]
        source = _TasksDatasource(cutting.result(), size, info.pinned, settings, str(output))
        workers, share = task_cpus(settings.workers)
        if share < 1.0:
            cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
            log.warning("workers_exceed_cores", requested=workers, cores=cpus, engine="ray")
        dataset = ray.data.read_datasource(
            source, override_num_blocks=max(1, len(source)), num_cpus=share, concurrency=workers
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
