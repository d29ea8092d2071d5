"""Bulk jobs: tokenize a corpus with one model card, across cores or on a Ray cluster.

``modelcard tokenize INPUT OUTPUT`` (or :func:`tokenize` from Python) reads JSONL or
Parquet, encodes each record with the card's tokenizer and writes Parquet shards plus
``_manifest.json``. The modules, in the order data flows through them::

    settings.py      JobSettings: what to read, how to encode, which engine
    inputs.py        list the input files, cut them into tasks, read JSONL chunks and
                     Parquet batches into records, with their line or row numbers
    records.py       one record -> text (or chat messages) or a BadRecord; RecordError
    encode.py        the encode step every engine runs: render chat, encode_batch_flat,
                     build the output Arrow table
    worker.py        what every encoding process does: load the card once, encode tasks
    local_engine.py  worker processes on this machine, fed by a reader in this process
    ray_start.py     connecting to Ray (or starting it), and preloading the card
    ray_engine.py    the tasks as Ray tasks that encode and write, a few at a time
    output.py        the output folder (written whole or not at all), _errors.jsonl,
                     _manifest.json
    _deps.py         the optional packages, checked before the job starts
    progress.py      the progress bar (rows, tokens, tokens/s)
    job.py           tokenize(): check, run an engine, write the manifest, commit OUTPUT
    command.py       the ``modelcard tokenize`` subcommand

pyarrow, numpy and tqdm are imported inside functions, and ``ray_start`` and
``ray_engine`` (which import Ray) only by a Ray job, so ``modelcard.cli`` stays quick to
import. The ``jobs`` extra
installs what the local engine needs; the ``ray`` extra adds Ray.
"""

from ._deps import MissingDependencyError as MissingDependencyError
from .inputs import JobError as JobError
from .job import tokenize as tokenize
from .records import RecordError as RecordError
from .settings import JobSettings as JobSettings

__all__ = ["JobError", "JobSettings", "MissingDependencyError", "RecordError", "tokenize"]
