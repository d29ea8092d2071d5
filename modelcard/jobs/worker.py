"""What every process that encodes does, whichever engine started it.

A local worker process and a Ray worker process both load the card once
(:func:`load_tokenizer`), then turn tasks (a JSONL chunk, a Parquet row group) into
output tables (:func:`iter_encoded`). This module imports only what that needs: numpy and
pyarrow when a task runs, never tqdm, Ray or the CLI.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..errors import ChatTemplateError, ModelCardError
from .encode import Encoded, encode_parsed, output_table, parquet_options
from .inputs import JsonlChunk, Parsed, Task, iter_parquet_batches, parse_jsonl_chunk
from .records import BadRecord

if TYPE_CHECKING:
    from ..card import ModelCard
    from ..tokenizer import Tokenizer
    from .output import ErrorReport, Tally
    from .progress import Progress
    from .settings import JobSettings

__all__ = [
    "ONE_THREAD",
    "Feed",
    "LoadInfo",
    "TaskResult",
    "check_chat_template",
    "in_background",
    "iter_encoded",
    "load_tokenizer",
    "loaded_tokenizer",
    "preload_tokenizer",
    "record_result",
    "setup_worker_process",
    "write_shard",
]

T = TypeVar("T")

#: Rust thread pools read these when first used: one thread per worker process.
ONE_THREAD = {"RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def setup_worker_process() -> None:
    """Prepare a process the job started (pool worker, Ray worker) to encode.

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


@dataclasses.dataclass(frozen=True, slots=True)
class LoadInfo:
    """What a process loaded: the manifest's card fields, and the pinned card itself."""

    fingerprint: str
    backend: str
    fallback_reason: str | None
    card: dict[str, Any]
    pinned: bytes

    @classmethod
    def of(cls, pinned: ModelCard, backend: str, fallback_reason: str | None) -> LoadInfo:
        """The fields of a pinned card (a loaded tokenizer's ``card``) and its backend."""
        assert pinned.fingerprint is not None
        return cls(
            fingerprint=pinned.fingerprint,
            backend=backend,
            fallback_reason=fallback_reason,
            card=pinned.model_dump(mode="json"),
            pinned=pickle.dumps(pinned),
        )


def check_chat_template(tok: Tokenizer) -> None:
    """Fail now, not on every record, when a ``--chat`` job's card has no chat template."""
    from ..chat import select_template

    try:
        select_template(tok.config.chat_templates, None, None)
    except ChatTemplateError as exc:
        raise ChatTemplateError(f"--chat renders records with the card's template: {exc}") from exc


def load_tokenizer(card: ModelCard | bytes, *, chat: bool) -> tuple[Tokenizer, LoadInfo]:
    """Load the card (or a pickled one), from the cache; check its template for ``--chat``."""
    if isinstance(card, bytes):
        card = pickle.loads(card)
        assert not isinstance(card, bytes)
    tok = card.load()
    if chat:
        check_chat_template(tok)
    return tok, LoadInfo.of(tok.card, tok.backend, tok.fallback_reason)


#: The card this process loaded for Ray tasks, under its pinned settings: the first task
#: (or :func:`preload_tokenizer`) loads it, later tasks, of this job or a later one on
#: the same Ray, reuse it.
_LOADED: dict[str, Tokenizer] = {}
#: A load that failed, for the rest of that job's tasks: under the job too, since a later
#: job with the same card loads it again (its files may have been mended since).
_FAILED: dict[tuple[str, str], ModelCardError] = {}


def _settings_key(card: dict[str, Any]) -> str:
    # Not the pickle: it holds a set of field names, whose order varies between processes.
    return json.dumps(card, sort_keys=True)


def loaded_tokenizer(payload: bytes, *, chat: bool, job: str = "") -> Tokenizer:
    """The card ``payload`` (a pickled pinned card) pins, loaded once in this process.

    ``chat`` checks that it has a chat template, on every call: jobs with and without
    ``--chat`` share the load. ``job`` names the job (the Ray engine passes its output
    folder): a load that failed fails that job's later tasks without loading again.
    """
    card: ModelCard = pickle.loads(payload)
    key = _settings_key(card.model_dump(mode="json"))
    tok = _LOADED.get(key)
    if tok is None:
        failed = _FAILED.get((key, job))
        if failed is not None:
            raise failed
        setup_worker_process()
        try:
            tok = load_tokenizer(card, chat=False)[0]
        except ModelCardError as exc:
            _FAILED.clear()
            _FAILED[(key, job)] = exc
            raise
        _LOADED.clear()  # one card per process: a later job's card replaces it
        _LOADED[key] = tok
    if chat:
        check_chat_template(tok)
    return tok


def preload_tokenizer(card: bytes) -> bool:
    """Load the (pickled) card before the job's pinned card is known, for
    :func:`loaded_tokenizer` to find; True when it loaded.

    It is kept under its pinned settings, which are the job's exactly when this process
    found the driver's files (same fingerprint, same resolved revision); otherwise the
    first task loads the job's card as if nothing had been preloaded.
    """
    setup_worker_process()
    try:
        tok, info = load_tokenizer(card, chat=False)
    except ModelCardError:
        return False  # the first task loads the pinned card and reports the error
    _LOADED.clear()
    _LOADED[_settings_key(info.card)] = tok
    return True


def in_background(work: Callable[[], T], name: str) -> Future[T]:
    """``work()`` in a daemon thread: the caller goes on (imports, starts Ray) meanwhile,
    and need not wait for it when it fails first."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


class Feed(Generic[T]):
    """The items of ``produce()``, made in a daemon thread and handed over as they come:
    the caller takes the first while the thread makes the rest (the Ray driver submits a
    chunk's task while the next chunks are cut). The thread's error is raised where the
    item it failed to make would have been; :meth:`close` stops it at its next item."""

    _END = object()

    def __init__(self, produce: Callable[[], Iterable[T]], name: str) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stop = threading.Event()

        def run() -> None:
            try:
                for item in produce():
                    if self._stop.is_set():
                        return
                    self._queue.put(item)
            except BaseException as exc:
                self._queue.put(_Failed(exc))
            self._queue.put(self._END)

        threading.Thread(target=run, name=name, daemon=True).start()

    def __iter__(self) -> Iterator[T]:
        while not self._stop.is_set():
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def close(self) -> None:
        self._stop.set()


@dataclasses.dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


def _parsed(task: Task, settings: JobSettings) -> Iterator[Parsed]:
    field = settings.text_field
    if isinstance(task, JsonlChunk):
        data = task.read()
        yield parse_jsonl_chunk(task.file.source, task.first_row, data, field, settings.chat)
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


def iter_encoded(tok: Tokenizer, task: Task, settings: JobSettings) -> Iterator[Encoded]:
    """The encoded records of one task: one chunk, or each read batch of a row group."""
    for parsed in _parsed(task, settings):
        yield encode_parsed(
            tok,
            parsed,
            chat=settings.chat,
            add_special_tokens=settings.add_special_tokens,
            on_error=settings.on_error,
            trust_content=settings.trust_content,
        )


@dataclasses.dataclass(slots=True)
class TaskResult:
    """What one task wrote (to its shard, if it had rows) and what it skipped."""

    shard: str | None = None
    rows: int = 0
    tokens: int = 0
    bad: list[BadRecord] = dataclasses.field(default_factory=list)
    blank_lines: int = 0
    encode_fallbacks: int = 0
    #: The backend that encoded it, and why it is not the one asked for (Ray tasks set
    #: these: their driver does not load the card).
    backend: str | None = None
    fallback_reason: str | None = None

    def add(self, encoded: Encoded) -> None:
        self.rows += len(encoded.rows)
        self.tokens += encoded.tokens
        self.bad += encoded.bad
        self.blank_lines += encoded.blank


def record_result(
    result: TaskResult, tally: Tally, report: ErrorReport | None, progress: Progress
) -> None:
    """Count a finished task into the job's tally, its error report and progress bar."""
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


def write_shard(
    tok: Tokenizer, task: Task, settings: JobSettings, output: Path, shard: str
) -> TaskResult:
    """Encode ``task`` into ``output / shard`` (not created when the task has no rows)."""
    import pyarrow.parquet as pq

    from .encode import output_schema

    fallbacks = tok.encode_fallbacks
    path = output / shard
    result = TaskResult()
    writer: pq.ParquetWriter | None = None
    try:
        for encoded in iter_encoded(tok, task, settings):
            if len(encoded.rows):
                if writer is None:
                    writer = pq.ParquetWriter(path, output_schema(), **parquet_options())
                writer.write_table(output_table(encoded))
            result.add(encoded)
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
