"""``--engine ray``: the local engine's tasks as Ray tasks.

* The job connects first (:mod:`modelcard.jobs.ray_start`): to the cluster in
  ``RAY_ADDRESS`` when it is set, else to a new local Ray (shut down again at the end);
  while Ray starts, threads cut the input and pin the card
  (:func:`~modelcard.loader.pin_card`: its files found and fingerprinted, no backend
  opened), so none of them waits for another.
* The driver cuts the input as the local engine's reader does (JSONL into chunks of
  whole lines, counting lines; Parquet into row groups), in a thread, and submits one
  Ray task per chunk as soon as it is cut, one CPU each, in input order: ``workers`` run
  at a time and, when the CPUs they ask for already hold the rest back, as many again
  wait at Ray's scheduler, so a worker starts its next chunk as soon as it is done. A
  task reads its chunk (from the shared filesystem, as every node sees INPUT), parses
  it, encodes it and writes its shard ``part-NNNNNN.parquet``, numbered in input order
  as the local engine's. What comes back to the driver is one small result per task:
  the shard's name, its counts, the bad records and the backend that encoded it, which
  feed the progress bar, ``_errors.jsonl`` and the manifest as they arrive.
* Each Ray worker process loads the pinned card once (:func:`~.ray_start.preload`, or
  its first task) and keeps it for the job's later tasks (Ray reuses a job's worker
  processes), one encode thread each; the load reads the card from the node's cache
  and checks the fingerprint, then the task runs the same code as a local worker
  (:mod:`modelcard.jobs.worker`). The driver never loads the card: the manifest's
  backend and fallback reason are the workers', and the driver logs the fallback they
  logged where nobody reads it.

Why Ray tasks and not Ray Data: the job used Ray Data's read tasks (one per chunk, doing
all the above) before. Measured on a 2-CPU machine, an empty job took 6.9 s on Ray Data
against 4.7 s on Ray tasks, and Ray Data cost a job its import (pandas among it) in the
driver and in every worker, its streaming executor in the driver, and two detached
helper actors (statistics, autoscaling coordinator), each its own Python process polling
for the job's whole length (2.1 CPU seconds of a 99 MB job). None of that bought
anything here: the chunks are cut, read, encoded and written by our own code. See
docs/cluster.md for the figures.

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
import itertools
import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray
import structlog

from ..backends import AUTO
from ..errors import ModelCardError
from .inputs import Task
from .output import ErrorReport, Tally
from .ray_start import RayJobError, task_cpus
from .worker import (
    LoadInfo,
    TaskResult,
    load_tokenizer,
    loaded_tokenizer,
    record_result,
    write_shard,
)

if TYPE_CHECKING:
    from ..card import ModelCard
    from .progress import Progress
    from .settings import JobSettings

__all__ = ["RayJobError", "run_ray"]

log = structlog.get_logger("modelcard")

#: How long a job that stops early waits for its tasks in flight.
_DRAIN_SECONDS = 30.0


def _encode_task(
    seq: int, task: Task, payload: bytes, settings: JobSettings, output: str
) -> TaskResult | ModelCardError:
    """One Ray task: encode a chunk into its shard, return what it did."""
    try:
        tok = loaded_tokenizer(payload, chat=settings.chat, job=output)
        result = write_shard(tok, task, settings, Path(output), f"part-{seq:06d}.parquet")
    except ModelCardError as exc:
        # Returned, not raised: Ray would pass the driver its message only, and the
        # driver could not raise RecordError (or whichever it was) as itself.
        return exc
    result.backend, result.fallback_reason = tok.backend, tok.fallback_reason
    return result


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


def _in_flight(workers: int, cpus: int) -> int:
    """How many tasks the driver keeps submitted: ``workers`` run at a time, and when
    they hold every CPU, so that Ray runs no more than that, as many again wait at the
    scheduler, so that a worker starts its next task as soon as it is done."""
    return 2 * workers if workers >= cpus else workers


class _CutError(Exception):
    """The input's cut failed (raised as itself by :func:`run_ray`, not as a Ray error)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _cut(tasks: Iterable[Task]) -> Iterator[Task]:
    iterator = iter(tasks)
    while True:
        try:
            task = next(iterator)
        except StopIteration:
            return
        except Exception as exc:
            raise _CutError(exc) from exc
        yield task


def _results(
    tasks: Iterable[Task],
    payload: bytes,
    settings: JobSettings,
    output: str,
    workers: int,
    share: float,
    cpus: int,
) -> Iterator[TaskResult]:
    """Each task's result as it arrives; the first modelcard error a task met, raised.

    Tasks are submitted in input order, as the cut makes them, at most
    :func:`_in_flight` at a time. When the caller stops early (an error, Ctrl-C), the
    tasks in flight are waited for, not cancelled: cancelling a task as it completes
    trips a check in Ray's core worker ("Tried to complete task that was not pending",
    Ray 2.60) that aborts the driver. They are a chunk or two per worker, and once they
    are done no task writes into OUTPUT's folder after the job has let it go.
    """
    remote = ray.remote(num_cpus=share)(_encode_task)
    shared = ray.put(payload), ray.put(settings)
    todo = enumerate(_cut(tasks))
    pending: list[ray.ObjectRef[Any]] = []
    limit = _in_flight(workers, cpus)
    try:
        while True:
            for seq, task in itertools.islice(todo, limit - len(pending)):
                pending.append(remote.remote(seq, task, *shared, output))
            if not pending:
                return
            done, pending = ray.wait(pending, num_returns=1)
            result: TaskResult | ModelCardError = ray.get(done[0])
            if isinstance(result, ModelCardError):
                raise result
            yield result
    finally:
        if pending:
            with contextlib.suppress(Exception):
                ray.wait(pending, num_returns=len(pending), timeout=_DRAIN_SECONDS)


def _load_info(pinned: ModelCard, first: TaskResult | None, *, chat: bool) -> LoadInfo:
    """What the job loaded, for the manifest: the pinned card, and the backend the first
    task reports (a job without tasks loads the card here to know it)."""
    if first is None or first.backend is None:
        return load_tokenizer(pinned, chat=chat)[1]
    return LoadInfo.of(pinned, first.backend, first.fallback_reason)


def _report_backend(pinned: ModelCard, result: TaskResult, first: TaskResult | None) -> None:
    """Say on the driver what the workers logged where nobody reads it: a fallback, once,
    and a worker that loaded another backend than the first (another node's packages)."""
    if first is None:
        if result.fallback_reason is not None:
            (log.info if pinned.tokenizer == AUTO else log.warning)(
                "tokenizer_fallback",
                requested=pinned.tokenizer,
                selected=result.backend,
                reason=result.fallback_reason,
                model=pinned.model,
                engine="ray",
            )
    elif result.backend != first.backend:
        log.warning(
            "ray_backends_differ",
            first=first.backend,
            other=result.backend,
            reason=result.fallback_reason or first.fallback_reason,
            fix="install the same packages (fastokens) on every Ray node",
        )


def run_ray(
    pinning: concurrent.futures.Future[ModelCard],
    cutting: Iterable[Task],
    settings: JobSettings,
    output: Path,
    *,
    progress: Progress,
    report: ErrorReport | None,
) -> tuple[Tally, LoadInfo, int]:
    """Run the job on the connected Ray, once the driver has pinned the card, submitting
    the tasks as ``cutting`` gives them. Returns the tally, what the job loaded, and how
    many tasks ran at a time."""
    pinned = pinning.result()
    payload = pickle.dumps(pinned)
    workers, share, cpus = task_cpus(settings.workers)
    if share < 1.0:
        log.warning("workers_exceed_cores", requested=workers, cores=cpus, engine="ray")
    tally = Tally()
    first: TaskResult | None = None
    try:
        for result in _results(cutting, payload, settings, str(output), workers, share, cpus):
            _report_backend(pinned, result, first)
            first = first or result
            record_result(result, tally, report, progress)
    except ModelCardError:
        raise
    except _CutError as failed:
        raise failed.error from failed.error.__cause__
    except Exception as exc:
        cause = _cause(exc)
        if cause is not None:
            raise cause from None
        raise RayJobError(f"The Ray job failed: {exc}") from exc
    return tally, _load_info(pinned, first, chat=settings.chat), workers
