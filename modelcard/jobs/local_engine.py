"""``--engine local``: worker processes on this machine, fed by a reader in this process.

The workers start first, and each loads the card at once, while this process lists the
input and reads it: start-up (a new interpreter, imports, the card load, about 2 s) runs
beside the reading, not before it. This process is only the reader: it cuts JSONL files
into chunks of whole lines, counting lines so every record keeps its line number, and
Parquet files into row groups, and sends each worker the chunk's *position* (a few
hundred bytes), at most two tasks per worker in flight. The worker reads the bytes
itself, parses, encodes on one thread and writes the task's rows to its own shard
``part-NNNNNN.parquet``. Shards are numbered in input order, so reading them in name
order gives the rows in input order whatever the number of workers.

Every worker loads the card the caller gave and reports the fingerprint of the files it
found; the first report is the job's, and a worker that found other files fails the job
(as a card pinned to a fingerprint does by itself). The parent never loads the card.

Workers are spawned, not forked (a forked child would inherit the parent's Rust thread
pools in a broken state), with SIGINT ignored: Ctrl-C reaches the whole process group,
and it is this process that decides, by terminating them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from ..errors import FingerprintMismatchError, ModelCardError, WorkerDiedError
from .inputs import InputFile, Task, iter_tasks
from .output import ErrorReport, Tally
from .worker import LoadInfo, TaskResult

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from ..card import ModelCard
    from .progress import Progress
    from .settings import JobSettings

__all__ = ["LocalPool", "WorkerDiedError", "available_cpus", "serve"]

log = structlog.get_logger("modelcard")

#: Tasks sent to a worker before it finishes one: it never waits for the next.
_IN_FLIGHT = 2
#: How long close() waits for a terminated worker before it kills it.
_TERMINATE_SECONDS = 5.0


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _portable(exc: BaseException) -> BaseException:
    """``exc`` as it can cross back to the parent; a bug's traceback goes with it, as a note."""
    if not isinstance(exc, ModelCardError):
        trace = "".join(traceback.format_exception(exc)).rstrip()
        exc.add_note(f"In the worker process:\n{trace}")
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return WorkerDiedError(f"A worker failed: {type(exc).__name__}: {exc}")
    return exc


def serve(conn: Connection, payload: bytes, settings: JobSettings, output: str) -> None:
    """A worker: load the card, report it, then run tasks until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from .worker import load_tokenizer, setup_worker_process, write_shard

    setup_worker_process()
    try:
        from ._deps import require_jobs

        require_jobs(("pyarrow.parquet",), load=True)
        tok, info = load_tokenizer(payload, chat=settings.chat)
    except BaseException as exc:
        conn.send(("failed", _portable(exc)))
        return
    conn.send(("ready", info))
    folder = Path(output)
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the parent is gone
            return
        if message is None:
            return
        seq, task = message
        try:
            result = write_shard(tok, task, settings, folder, f"part-{seq:06d}.parquet")
        except Exception as exc:
            conn.send(("error", seq, _portable(exc)))
            continue
        conn.send(("done", seq, result))


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Children started in here inherit SIGINT ignored from their first instruction."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclasses.dataclass(slots=True)
class _Worker:
    process: BaseProcess
    conn: Connection
    info: LoadInfo | None = None
    in_flight: int = 0


class LocalPool:
    """The worker processes, started (and loading the card) as soon as the pool exists."""

    def __init__(self, card: ModelCard, settings: JobSettings, output: Path) -> None:
        cpus = available_cpus()
        self.workers = settings.workers or cpus
        if self.workers > cpus:
            log.warning("workers_exceed_cores", requested=self.workers, cores=cpus)
        self.info: LoadInfo | None = None
        context = multiprocessing.get_context("spawn")
        payload = pickle.dumps(card)
        self._workers: list[_Worker] = []
        try:
            with _sigint_ignored():
                for number in range(self.workers):
                    parent, child = context.Pipe(duplex=True)
                    process = context.Process(
                        target=serve,
                        args=(child, payload, settings, str(output)),
                        name=f"modelcard-tokenize-{number}",
                        daemon=True,
                    )
                    self._workers.append(_Worker(process, parent))
                    process.start()
                    child.close()
        except BaseException:
            self.close(terminate=True)
            raise

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self.close(terminate=kind is not None)

    def close(self, *, terminate: bool = False) -> None:
        """Stop the workers and reap them: idle ones are asked to exit, the rest (or all,
        with ``terminate``, after a failure or Ctrl-C) get SIGTERM, then SIGKILL."""
        started = [w for w in self._workers if w.process.pid is not None]
        for worker in started:
            if not terminate and worker.in_flight == 0 and worker.process.is_alive():
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
            else:
                worker.process.terminate()
        for worker in self._workers:
            if worker.process.pid is None:
                worker.conn.close()
                continue
            worker.process.join(_TERMINATE_SECONDS)
            if worker.process.exitcode is None:
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers = []

    def _ready(self, worker: _Worker, info: LoadInfo) -> None:
        worker.info = info
        if self.info is None:
            self.info = info
        elif info.fingerprint != self.info.fingerprint:
            raise FingerprintMismatchError(
                f"Two workers of this job loaded different files for the card: fingerprints "
                f"{self.info.fingerprint} and {info.fingerprint}. The card's files changed "
                "while the job started; run it again once they stay put, or pin the card "
                "with DYN_FINGERPRINT."
            )

    def _died(self, worker: _Worker) -> WorkerDiedError:
        code = worker.process.exitcode
        name = worker.process.name
        if code is not None and code < 0 and -code == signal.SIGKILL:
            return WorkerDiedError(
                f"Worker {name} was killed (SIGKILL) while tokenizing, often by the kernel "
                "when memory runs out. Try fewer --workers or a smaller --chunk-bytes."
            )
        return WorkerDiedError(
            f"Worker {name} ended (exit code {code}) without finishing its tasks; see its "
            "messages above on stderr."
        )

    def run(
        self,
        files: list[InputFile],
        settings: JobSettings,
        *,
        progress: Progress,
        report: ErrorReport | None,
    ) -> tuple[Tally, LoadInfo]:
        """Read the input, hand out tasks in order, and gather the results in order."""
        tally = Tally()
        tasks = iter_tasks(
            files,
            chunk_bytes=settings.chunk_bytes,
            field=settings.text_field,
            chat=settings.chat,
        )
        next_task: tuple[int, Task] | None = None
        sent = 0
        exhausted = False
        done: dict[int, TaskResult | BaseException] = {}
        collected = 0
        failed = False

        def collect() -> None:
            nonlocal collected
            while collected in done:
                outcome = done.pop(collected)
                if isinstance(outcome, BaseException):
                    raise outcome
                tally.add(
                    rows=outcome.rows,
                    tokens=outcome.tokens,
                    bad=outcome.bad,
                    blank_lines=outcome.blank_lines,
                    encode_fallbacks=outcome.encode_fallbacks,
                )
                if outcome.shard is not None:
                    tally.shards.append(outcome.shard)
                if report is not None:
                    report.write(outcome.bad)
                progress.update(outcome.rows, outcome.tokens)
                collected += 1

        while True:
            # Hand out tasks, least loaded worker first; a worker still loading the card
            # takes its first tasks now and starts on them as soon as it is ready.
            while not failed and not exhausted:
                worker = min(self._workers, key=lambda w: w.in_flight)
                if worker.in_flight >= _IN_FLIGHT:
                    break
                if next_task is None:
                    task = next(tasks, None)
                    if task is None:
                        exhausted = True
                        break
                    next_task = (sent, task)
                    sent += 1
                worker.conn.send(next_task)
                worker.in_flight += 1
                next_task = None
            waiting = any(w.in_flight for w in self._workers)
            if not waiting and (exhausted or failed) and self.info is not None:
                break
            owners: dict[Any, _Worker] = {w.conn: w for w in self._workers}
            owners.update((w.process.sentinel, w) for w in self._workers)
            for ready in wait(list(owners)):
                worker = owners[ready]
                if ready is worker.conn:
                    try:
                        message = worker.conn.recv()
                    except EOFError:
                        raise self._died(worker) from None
                    kind = message[0]
                    if kind == "ready":
                        self._ready(worker, message[1])
                    elif kind == "failed":
                        raise message[1]
                    else:
                        worker.in_flight -= 1
                        done[message[1]] = message[2]
                        failed = failed or kind == "error"
                elif not worker.conn.poll():  # its last words are read first
                    raise self._died(worker)
            collect()
        collect()
        assert self.info is not None
        return tally, self.info
