"""``tokenize()``: the whole job, whichever engine runs it.

Every process that encodes loads the card once, from the cache, and the job checks that
they all found the same files (the same fingerprint):

* local: each worker loads the card the caller gave, as soon as it starts, and reports
  its fingerprint; the parent reads the input meanwhile and never loads the card.
* Ray: the driver pins the card while Ray starts (:func:`~modelcard.loader.pin_card`:
  its settings, the fingerprint of its files and, for hub repos, the resolved commit,
  what ``pickle.dumps(tokenizer)`` holds) without loading it, and ships that. Each Ray
  worker loads it through ``ModelCard.load()``, and so encodes with the same files or
  fails with ``FingerprintMismatchError``: nodes do not share a cache. The manifest's
  backend (and fallback reason) is the one the workers report.

A card that cannot load, a ``--chat`` job whose card has no chat template, a bad record
with ``--on-error fail``, Ctrl-C: the job stops its workers and leaves OUTPUT as it was
(see :mod:`modelcard.jobs.output`).
"""

from __future__ import annotations

import datetime
import time
from typing import TYPE_CHECKING, Any

from ._deps import import_ray_engine, require_jobs, require_ray
from .inputs import list_inputs
from .output import ERRORS, ErrorReport, Staging, write_manifest
from .progress import Progress

if TYPE_CHECKING:
    from concurrent.futures import Future

    from ..card import ModelCard
    from .inputs import InputFile
    from .output import Tally
    from .settings import JobSettings
    from .worker import LoadInfo

__all__ = ["tokenize"]


def tokenize(card: ModelCard, settings: JobSettings) -> dict[str, Any]:
    """Tokenize ``settings.input`` into ``settings.output``; return the manifest written.

    Raises :class:`~modelcard.jobs.RecordError` on a bad record with ``on_error='fail'``,
    :class:`~modelcard.jobs.JobError` for unusable INPUT or OUTPUT,
    :class:`~modelcard.jobs.MissingDependencyError` when pyarrow, tqdm or (for Ray) Ray
    Data is not installed, and the card's own errors when it cannot load. OUTPUT is
    written whole, when the job is complete, or not at all. The local engine spawns its
    workers, so a script that calls this must do so under ``if __name__ == "__main__":``,
    as multiprocessing asks.
    """
    from .. import __version__

    started_at = datetime.datetime.now(datetime.UTC)
    started = time.perf_counter()
    require_jobs()
    pinning = None
    if settings.engine == "ray":
        from ..loader import pin_card
        from .worker import in_background

        pinning = in_background(lambda: pin_card(card), "modelcard-pin")
        require_ray()
    files, ignored = list_inputs(settings.input)
    staging = Staging(settings.output, settings.input, overwrite=settings.overwrite)
    output = staging.create()
    try:
        tally, info, workers, start = _run(card, pinning, files, settings, staging)
        seconds = time.perf_counter() - started
        manifest: dict[str, Any] = {
            "job": "tokenize",
            "modelcard_version": __version__,
            "fingerprint": info.fingerprint,
            "backend": info.backend,
            "fallback_reason": info.fallback_reason,
            "card": info.card,
            "engine": settings.engine,
            "workers": workers,
            # How the encoding processes got the card: "fork" (local: one load, forked
            # into every worker), "spawn" (local: a load per worker), "ray" (a load per
            # Ray worker process).
            "worker_start": start,
            "settings": {
                **settings.model_dump(mode="json", exclude={"input", "output", "field"}),
                "field": settings.text_field,
            },
            "input": str(settings.input.expanduser().resolve()),
            "files": [{"source": f.source, "format": f.format, "bytes": f.size} for f in files],
            "ignored_files": ignored,
            "output": str(staging.output),
            "columns": {
                "source": "string: the input file, relative to input",
                "row": "int64: 1-based line (JSONL) or row (Parquet) in source",
                "ids": "list<uint32>: token ids",
                "num_tokens": "int64: len(ids)",
            },
            **tally.as_dict(),
            "shards": sorted(tally.shards),
            "errors_report": ERRORS if settings.on_error == "skip" else None,
            "started_at": started_at.isoformat(timespec="seconds"),
            "seconds": round(seconds, 3),
            "tokens_per_second": round(tally.tokens / seconds) if seconds > 0 else None,
        }
        write_manifest(output, manifest)
        staging.commit()
    except BaseException:
        staging.discard()
        raise
    return manifest


def _run(
    card: ModelCard,
    pinning: Future[ModelCard] | None,
    files: list[InputFile],
    settings: JobSettings,
    staging: Staging,
) -> tuple[Tally, LoadInfo, int, str | None]:
    report = ErrorReport(staging.path / ERRORS) if settings.on_error == "skip" else None
    try:
        if pinning is None:
            return _run_local(card, files, settings, staging, report)
        return _run_ray(card, pinning, files, settings, staging, report)
    finally:
        if report is not None:
            report.close()


def _run_local(
    card: ModelCard,
    files: list[InputFile],
    settings: JobSettings,
    staging: Staging,
    report: ErrorReport | None,
) -> tuple[Tally, LoadInfo, int, str | None]:
    from .local_engine import LocalPool

    with LocalPool(card, settings, staging.path) as pool:
        staging.remove_leftovers()  # while the workers start
        progress = Progress(enabled=settings.progress, engine=settings.engine)
        try:
            tally, info = pool.run(files, settings, progress=progress, report=report)
        finally:
            progress.close()
    return tally, info, pool.workers, pool.start


def _run_ray(
    card: ModelCard,
    pinning: Future[ModelCard],
    files: list[InputFile],
    settings: JobSettings,
    staging: Staging,
    report: ErrorReport | None,
) -> tuple[Tally, LoadInfo, int, str | None]:
    from .inputs import iter_tasks
    from .ray_start import connect, preload, shutdown
    from .worker import Feed

    field, chat, chunk_bytes = settings.text_field, settings.chat, settings.chunk_bytes
    cutting = Feed(
        lambda: iter_tasks(files, chunk_bytes=chunk_bytes, field=field, chat=chat),
        "modelcard-cut",
    )
    started_here = connect()
    try:
        preload(card, workers=settings.workers)
        ray_engine = import_ray_engine()
        staging.remove_leftovers()
        progress = Progress(enabled=settings.progress, engine=settings.engine)
        try:
            result: tuple[Tally, LoadInfo, int] = ray_engine.run_ray(
                pinning,
                cutting,
                settings,
                staging.path,
                progress=progress,
                report=report,
            )
        finally:
            progress.close()
        return (*result, "ray")
    finally:
        cutting.close()
        if started_here:
            shutdown()
