"""``--engine local``: a process pool on this machine.

The workers start (and import what they need) while the parent loads the card. The
parent then cuts the input into tasks (JSONL chunks, Parquet row groups) and hands them
out in order, at most two per worker in flight, so memory stays bounded. Each task
carries the pickled card (its settings pinned to the fingerprint: a few hundred bytes);
a worker loads it once, on its first task, from the cache, encodes on one thread, and
writes the task's rows to its own shard ``part-NNNNNN.parquet``. Shards are numbered in
input order, so reading them in name order gives the rows in input order whatever the
number of workers.

Workers are spawned, not forked: a forked child would inherit the parent's Rust thread
pools in a broken state.
"""

from __future__ import annotations

import collections
import dataclasses
import multiprocessing
import os
import pickle
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelCardError
from .encode import encode_parsed, output_schema, output_table
from .inputs import (
    InputFile,
    JsonlChunk,
    Parsed,
    Task,
    iter_parquet_batches,
    iter_tasks,
    parse_jsonl_chunk,
)
from .output import ErrorReport, Tally
from .records import BadRecord

if TYPE_CHECKING:
    from ..card import ModelCard
    from ..tokenizer import Tokenizer
    from .progress import Progress
    from .settings import JobSettings

__all__ = ["LocalPool", "default_workers", "setup_worker_process"]

#: Rust thread pools read these when first used: one thread per worker process.
ONE_THREAD = {"RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def default_workers() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclasses.dataclass(slots=True)
class _TaskResult:
    shard: str | None
    rows: int
    tokens: int
    bad: list[BadRecord]
    blank_lines: int
    encode_fallbacks: int


def setup_worker_process() -> None:
    """Prepare a process the job started (pool worker, Ray actor) to encode.

    One encode thread: the engine runs one such process per CPU. And, unless someone
    configured structlog there, warnings (fallbacks) to stderr as the CLI writes them,
    rather than structlog's default of every level to stdout.
    """
    os.environ.update(ONE_THREAD)
    import structlog

    if not structlog.is_configured():
        import logging
        import sys

        structlog.configure(
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
            logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        )


_worker: dict[str, Any] = {}


def _init_worker() -> None:
    setup_worker_process()
    # Imported now, while the parent loads the card, rather than on the first task.
    import numpy  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    from .. import loader  # noqa: F401


def _started() -> int:
    return os.getpid()


def _tokenizer(payload: bytes) -> Tokenizer:
    if _worker.get("payload") != payload:
        # The card is pinned to the fingerprint: load() reads the cache and checks it.
        card: ModelCard = pickle.loads(payload)
        _worker.update(payload=payload, tokenizer=card.load())
    tok: Tokenizer = _worker["tokenizer"]
    return tok


def _parsed(task: Task, settings: JobSettings) -> Iterator[Parsed]:
    field = settings.text_field
    if isinstance(task, JsonlChunk):
        yield parse_jsonl_chunk(task.file.source, task.first_row, task.data, field, settings.chat)
        return
    import pyarrow.parquet as pq

    with pq.ParquetFile(task.file.path) as parquet:
        yield from iter_parquet_batches(
            parquet,
            task.file,
            field,
            settings.chat,
            settings.batch_rows,
            row_groups=[task.row_group],
            first_row=task.first_row,
        )


def _run_task(
    payload: bytes, settings: JobSettings, output: Path, seq: int, task: Task
) -> _TaskResult:
    import pyarrow.parquet as pq

    tok = _tokenizer(payload)
    fallbacks = tok.encode_fallbacks
    shard = f"part-{seq:06d}.parquet"
    path = output / shard
    result = _TaskResult(None, 0, 0, [], 0, 0)
    writer: pq.ParquetWriter | None = None
    try:
        for parsed in _parsed(task, settings):
            encoded = encode_parsed(
                tok,
                parsed,
                chat=settings.chat,
                add_special_tokens=settings.add_special_tokens,
                on_error=settings.on_error,
            )
            if len(encoded.rows):
                if writer is None:
                    writer = pq.ParquetWriter(path, output_schema(), compression="zstd")
                writer.write_table(output_table(encoded))
            result.rows += len(encoded.rows)
            result.tokens += encoded.tokens
            result.bad += encoded.bad
            result.blank_lines += encoded.blank
    except BaseException:
        if writer is not None:
            writer.close()
            path.unlink(missing_ok=True)
        raise
    if writer is not None:
        writer.close()
        result.shard = shard
    result.encode_fallbacks = tok.encode_fallbacks - fallbacks
    return result


class WorkerDiedError(ModelCardError, RuntimeError):
    """A worker process of the local engine ended without finishing its task."""


class LocalPool:
    """The worker processes; started before the card loads, so their start-up overlaps it."""

    def __init__(self, workers: int | None) -> None:
        self.workers = workers or default_workers()
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
        )
        for _ in range(self.workers):
            self._pool.submit(_started)  # spawns every worker now

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def run(
        self,
        card: ModelCard,
        files: list[InputFile],
        settings: JobSettings,
        output: Path,
        *,
        progress: Progress,
        report: ErrorReport | None,
    ) -> Tally:
        """Run the job; tasks go out in input order, at most two per worker in flight."""
        tally = Tally()
        payload = pickle.dumps(card)

        def collect(future: Future[_TaskResult]) -> None:
            result = future.result()
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

        tasks = iter_tasks(
            files, chunk_bytes=settings.chunk_bytes, field=settings.text_field, chat=settings.chat
        )
        pending: collections.deque[Future[_TaskResult]] = collections.deque()
        try:
            for seq, task in enumerate(tasks):
                pending.append(self._pool.submit(_run_task, payload, settings, output, seq, task))
                while len(pending) > 2 * self.workers:
                    collect(pending.popleft())
            while pending:
                collect(pending.popleft())
        except BrokenProcessPool as exc:
            raise WorkerDiedError(
                f"A worker process died while tokenizing ({exc}); it may have run out of "
                "memory. Try fewer --workers or a smaller --chunk-bytes."
            ) from exc
        finally:
            for future in pending:
                future.cancel()
        return tally
