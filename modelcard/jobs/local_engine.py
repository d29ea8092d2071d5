"""``--engine local``: worker processes on this machine, fed by a reader in this process.

The workers start first, while this process lists the input and reads it: start-up (a
new interpreter, imports, the card load, about 2 s) runs beside the reading, not before
it. One process is spawned and loads the card; on Linux, once loaded, it forks the
workers, which inherit the loaded card, so a job pays for one load however many workers
it has (the card load is 1.1-1.3 s of CPU for qwen2.5; two loads side by side took half
the start-up CPU of a 2-worker job). This process is only the reader: it cuts JSONL
files into chunks of whole lines, counting lines so every record keeps its line number,
and Parquet files into row groups, and sends each worker the chunk's *position* (a few
hundred bytes), at most two tasks per worker in flight. The worker reads the bytes
itself, parses, encodes on one thread and writes the task's rows to its own shard
``part-NNNNNN.parquet``. Shards are numbered in input order, so reading them in name
order gives the rows in input order whatever the number of workers.

Forking is safe only from a process with one thread: a forked child would inherit
other threads' locks, and Rust thread pools, in a broken state. The loading process is
a fresh interpreter that has imported neither numpy nor pyarrow (each starts a thread)
and has not encoded (fastokens starts its pool then); it forks only if it still has one
thread after the load, and otherwise tells this process to spawn every worker, each
loading the card itself, as on other systems. (Spawning re-imports the caller's main
module in the loading process: a script that imports numpy or pyarrow at its top gets
spawned workers; ``modelcard tokenize`` does not.) Every worker reports the fingerprint of
the files it loaded; the first report is the job's, and a worker that found other
files fails the job (as a card pinned to a fingerprint does by itself). This process
never loads the card.

Workers start with SIGINT ignored: Ctrl-C reaches the whole process group, and it is
this process that decides, by terminating them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from ..errors import FingerprintMismatchError, ModelCardError, WorkerDiedError
from .inputs import InputFile, Task, iter_tasks
from .output import ErrorReport, Tally
from .worker import LoadInfo, TaskResult, record_result

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from ..card import ModelCard
    from ..tokenizer import Tokenizer
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
    """A spawned worker: load the card, report it, then run tasks until told to stop."""
    loaded = _load_in_process(payload, settings, conn)
    if loaded is not None:
        tok, info = loaded
        _work(conn, tok, info, settings, output)


def _load_in_process(
    payload: bytes, settings: JobSettings, report: Connection
) -> tuple[Tokenizer, LoadInfo] | None:
    """A new process's start: Ctrl-C is the parent's, then the card loads. ``(tok, info)``,
    or None once the failure is sent on ``report``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from .worker import load_tokenizer, setup_worker_process

    setup_worker_process()
    try:
        return load_tokenizer(payload, chat=settings.chat)
    except BaseException as exc:
        report.send(("failed", _portable(exc)))
        return None


def _work(
    conn: Connection, tok: Tokenizer, info: LoadInfo, settings: JobSettings, out: str
) -> None:
    """Report the loaded card, then run tasks until told to stop."""
    from .worker import write_shard

    try:
        from ._deps import require_jobs

        require_jobs(("pyarrow.parquet",), load=True)
    except BaseException as exc:
        conn.send(("failed", _portable(exc)))
        return
    conn.send(("ready", info))
    folder = Path(out)
    while True:
        try:
            message = conn.recv()
        except (EOFError, ConnectionResetError):  # the parent is gone
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


def _one_thread() -> bool:
    """Whether this process runs one thread, and so may fork (Linux, where /proc says)."""
    try:
        return threading.active_count() == 1 and len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _forked_worker(conn: Connection, others: list[Connection], work: Any) -> None:
    code = 1
    try:
        for other in others:
            other.close()
        work(conn)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # not the loader's exit handlers


def load_and_fork(
    conns: list[Connection], status: Connection, payload: bytes, settings: JobSettings, output: str
) -> None:
    """The spawned loader: load the card once, fork one worker per ``conns``, reap them.

    On ``status`` it sends ``("forked", pids)``, then ``("exited", number, code)`` as each
    worker ends; or ``("failed", error)``, or ``("spawn", None)`` when it cannot fork.
    """
    loaded = _load_in_process(payload, settings, status)
    if loaded is None:
        return
    tok, info = loaded
    if not hasattr(os, "fork") or not _one_thread():
        status.send(("spawn", None))
        return
    numbers: dict[int, int] = {}
    for number, conn in enumerate(conns):
        pid = os.fork()
        if pid == 0:
            others = [c for c in conns if c is not conn] + [status]
            _forked_worker(conn, others, lambda c: _work(c, tok, info, settings, output))
        numbers[pid] = number
    for conn in conns:
        conn.close()
    status.send(("forked", list(numbers)))
    while numbers:
        pid, code = os.wait()
        if pid in numbers:
            with contextlib.suppress(OSError):
                status.send(("exited", numbers.pop(pid), os.waitstatus_to_exitcode(code)))


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
    conn: Connection
    name: str
    #: Spawned by this process, or forked by the loader (then only its pid is known).
    process: BaseProcess | None = None
    pid: int | None = None
    exitcode: int | None = None
    info: LoadInfo | None = None
    #: Tasks sent and not yet done, by number.
    pending: dict[int, Task] = dataclasses.field(default_factory=dict)
    ended: bool = False

    @property
    def in_flight(self) -> int:
        return len(self.pending)


class LocalPool:
    """The worker processes, started (and loading the card) as soon as the pool exists."""

    def __init__(self, card: ModelCard, settings: JobSettings, output: Path) -> None:
        cpus = available_cpus()
        self.workers = settings.workers or cpus
        if self.workers > cpus:
            log.warning("workers_exceed_cores", requested=self.workers, cores=cpus)
        self.info: LoadInfo | None = None
        self._context = multiprocessing.get_context("spawn")
        self._args = (pickle.dumps(card), settings, str(output))
        self._workers: list[_Worker] = []
        self._loader: BaseProcess | None = None
        self._status: Connection | None = None
        #: The loader said what it did: forked the workers, or left them to be spawned.
        self._started = False
        #: How the workers started: "fork" (from the loader's one card load) or "spawn"
        #: (each loading the card); None until the loader has said.
        self.start: str | None = None
        try:
            with _sigint_ignored():
                children = []
                for number in range(self.workers):
                    parent, child = self._context.Pipe(duplex=True)
                    self._workers.append(_Worker(parent, f"modelcard-tokenize-{number}"))
                    children.append(child)
                status, status_child = self._context.Pipe(duplex=False)
                self._status = status
                self._loader = self._context.Process(
                    target=load_and_fork,
                    args=(children, status_child, *self._args),
                    name="modelcard-tokenize-load",
                    daemon=True,
                )
                self._loader.start()
                for child in [*children, status_child]:
                    child.close()
        except BaseException:
            self.close(terminate=True)
            raise

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self.close(terminate=kind is not None)

    def _spawn(self, worker: _Worker) -> None:
        """Start ``worker`` as a process of its own, and send it its pending tasks again."""
        worker.conn.close()
        parent, child = self._context.Pipe(duplex=True)
        worker.conn = parent
        with _sigint_ignored():
            worker.process = self._context.Process(
                target=serve, args=(child, *self._args), name=worker.name, daemon=True
            )
            worker.process.start()
        child.close()
        for message in worker.pending.items():
            worker.conn.send(message)

    def _status_message(self) -> None:
        """Act on what the loader says next."""
        assert self._status is not None
        try:
            message = self._status.recv()
        except EOFError:
            self._status.close()
            self._status = None
            if not self._started:
                raise WorkerDiedError(
                    "The process that loads the card for the workers ended before they "
                    "started; see its messages above on stderr."
                ) from None
            return
        kind = message[0]
        if kind == "forked":
            self._started = True
            self.start = "fork"
            for worker, pid in zip(self._workers, message[1], strict=True):
                worker.pid = pid
        elif kind == "exited":
            self._workers[message[1]].exitcode = message[2]
        elif kind == "spawn":
            self._started = True
            self.start = "spawn"
            for worker in self._workers:
                self._spawn(worker)
        else:
            raise message[1]

    def _drain(self, seconds: float = 0.0) -> None:
        """Read what the loader has said (waiting up to ``seconds`` for it to say more)."""
        deadline = time.monotonic() + seconds
        while self._status is not None:
            if not self._status.poll(max(0.0, deadline - time.monotonic())):
                return
            self._status_message()

    def close(self, *, terminate: bool = False) -> None:
        """Stop the workers and reap them: idle ones are asked to exit, the rest (or all,
        with ``terminate``, after a failure or Ctrl-C) get SIGTERM, then SIGKILL."""
        with contextlib.suppress(Exception):  # the job's error, if any, is already raised
            self._drain()
        for worker in self._workers:
            alive = worker.process.is_alive() if worker.process is not None else worker.pid
            if not alive or worker.exitcode is not None:
                continue
            if not terminate and worker.in_flight == 0:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
            else:
                self._signal(worker, signal.SIGTERM)
        if self._loader is not None and self._loader.pid is not None and not self._started:
            self._loader.terminate()  # still loading: there is nothing to fork yet
        deadline = time.monotonic() + _TERMINATE_SECONDS
        for worker in self._workers:
            if worker.process is not None and worker.process.pid is not None:
                worker.process.join(max(0.0, deadline - time.monotonic()))
                if worker.process.exitcode is None:
                    worker.process.kill()
                    worker.process.join()
        if self._loader is not None and self._loader.pid is not None:
            # It ends once it has reaped the workers it forked.
            self._loader.join(max(0.0, deadline - time.monotonic()))
            with contextlib.suppress(Exception):
                self._drain()
            if self._loader.exitcode is None:
                for worker in self._workers:
                    if worker.process is None and worker.exitcode is None:
                        self._signal(worker, signal.SIGKILL)
                self._loader.kill()
                self._loader.join()
        for worker in self._workers:
            worker.conn.close()
        if self._status is not None:
            self._status.close()
            self._status = None
        self._workers = []
        self._loader = None

    @staticmethod
    def _signal(worker: _Worker, number: int) -> None:
        if worker.process is not None:
            if number == signal.SIGKILL:
                worker.process.kill()
            else:
                worker.process.terminate()
        elif worker.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, number)

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
        if worker.process is not None:
            worker.process.join(1.0)
            code = worker.process.exitcode
        else:
            # The loader reaps the workers it forked and says how they ended, or why it
            # never forked them (raised here: the card's own error).
            self._drain(1.0)
            code = worker.exitcode
        worker.ended = True
        if code is not None and code < 0 and -code == signal.SIGKILL:
            return WorkerDiedError(
                f"Worker {worker.name} was killed (SIGKILL) while tokenizing, often by the "
                "kernel when memory runs out. Try fewer --workers or a smaller --chunk-bytes."
            )
        return WorkerDiedError(
            f"Worker {worker.name} ended (exit code {code}) without finishing its tasks; see "
            "its messages above on stderr."
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
                record_result(outcome, tally, report, progress)
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
                try:
                    worker.conn.send(next_task)
                except (BrokenPipeError, ConnectionResetError):
                    raise self._died(worker) from None
                worker.pending[next_task[0]] = next_task[1]
                next_task = None
            waiting = any(w.in_flight for w in self._workers)
            if not waiting and (exhausted or failed) and self.info is not None:
                break
            owners: dict[Any, _Worker | None] = {w.conn: w for w in self._workers}
            owners.update((w.process.sentinel, w) for w in self._workers if w.process)
            if self._status is not None:
                owners[self._status] = None
            ready_now = wait(list(owners))
            if self._status is not None and self._status in ready_now:
                self._status_message()  # first: it may say why workers' pipes closed
                continue
            for ready in ready_now:
                owner = owners[ready]
                if owner is None:
                    continue
                worker = owner
                if ready is worker.conn:
                    try:
                        message = worker.conn.recv()
                    except (EOFError, ConnectionResetError):  # reset: it died unread
                        raise self._died(worker) from None
                    kind = message[0]
                    if kind == "ready":
                        self._ready(worker, message[1])
                    elif kind == "failed":
                        raise message[1]
                    else:
                        worker.pending.pop(message[1], None)
                        done[message[1]] = message[2]
                        failed = failed or kind == "error"
                elif not worker.conn.poll():  # its last words are read first
                    raise self._died(worker)
            collect()
        collect()
        assert self.info is not None
        return tally, self.info
