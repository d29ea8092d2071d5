"""``tokenize()``: the whole job, whichever engine runs it.

The card is loaded once here, before any worker encodes: a card that cannot load, or a
``--chat`` job whose card has no chat template, fails before anything is written. The
engines ship the loaded tokenizer's card, pickled: its settings pinned to the
fingerprint and, for hub repos, to the resolved commit (the same card
``pickle.dumps(tokenizer)`` holds). Every worker loads it through ``ModelCard.load()``
and so encodes with the same files, or fails with ``FingerprintMismatchError``.
"""

from __future__ import annotations

import datetime
import time
from typing import TYPE_CHECKING, Any

from ..errors import ChatTemplateError
from .inputs import list_inputs
from .output import ERRORS, ErrorReport, check_output, prepare_output, write_manifest
from .progress import Progress

if TYPE_CHECKING:
    from ..card import ModelCard
    from .settings import JobSettings

__all__ = ["tokenize"]


def tokenize(card: ModelCard, settings: JobSettings) -> dict[str, Any]:
    """Tokenize ``settings.input`` into ``settings.output``; return the manifest written.

    Raises :class:`~modelcard.jobs.RecordError` on a bad record with ``on_error='fail'``,
    :class:`~modelcard.jobs.JobError` for unusable INPUT or OUTPUT, and the card's own
    errors when it cannot load. The local engine spawns its workers, so a script that
    calls this must do so under ``if __name__ == "__main__":``, as multiprocessing asks.
    """
    from .. import __version__

    started_at = datetime.datetime.now(datetime.UTC)
    started = time.perf_counter()
    files, ignored = list_inputs(settings.input)
    check_output(settings.output, settings.input, overwrite=settings.overwrite)
    pool = None
    if settings.engine == "local":
        from .local_engine import LocalPool

        pool = LocalPool(settings.workers)
    try:
        tok = card.load()
        if settings.chat:
            from ..chat import select_template

            try:
                select_template(tok.config.chat_templates, None, None)
            except ChatTemplateError as exc:
                raise ChatTemplateError(
                    f"--chat renders records with the card's template: {exc}"
                ) from exc
        output = prepare_output(settings.output, settings.input, overwrite=settings.overwrite)
        report = ErrorReport(output / ERRORS) if settings.on_error == "skip" else None
        progress = Progress(enabled=settings.progress, engine=settings.engine)
        try:
            if pool is not None:
                workers = pool.workers
                tally = pool.run(
                    tok.card, files, settings, output, progress=progress, report=report
                )
            else:
                from .ray_engine import run_ray

                tally, workers = run_ray(
                    tok.card, files, settings, output, progress=progress, report=report
                )
        finally:
            progress.close()
            if report is not None:
                report.close()
    finally:
        if pool is not None:
            pool.close()
    seconds = time.perf_counter() - started
    manifest: dict[str, Any] = {
        "job": "tokenize",
        "modelcard_version": __version__,
        "fingerprint": tok.fingerprint,
        "backend": tok.backend,
        "fallback_reason": tok.fallback_reason,
        "card": tok.card.model_dump(mode="json"),
        "engine": settings.engine,
        "workers": workers,
        "settings": {
            **settings.model_dump(mode="json", exclude={"input", "output", "field"}),
            "field": settings.text_field,
        },
        "input": str(settings.input.expanduser().resolve()),
        "files": [{"source": f.source, "format": f.format, "bytes": f.size} for f in files],
        "ignored_files": ignored,
        "output": str(output),
        "columns": {
            "source": "string: the input file, relative to input",
            "row": "int64: 1-based line (JSONL) or row (Parquet) in source",
            "ids": "list<uint32>: token ids",
            "num_tokens": "int64: len(ids)",
        },
        **tally.as_dict(),
        "shards": sorted(tally.shards),
        "errors_report": ERRORS if report is not None else None,
        "started_at": started_at.isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "tokens_per_second": round(tally.tokens / seconds) if seconds > 0 else None,
    }
    write_manifest(output, manifest)
    return manifest
