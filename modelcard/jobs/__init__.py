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
    local_engine.py  a process pool on this machine, one card per worker
    ray_engine.py    Ray Data: a read datasource, an actor pool, write_parquet
    output.py        the output folder, _errors.jsonl and _manifest.json
    progress.py      the progress bar (rows, tokens, tokens/s)
    job.py           tokenize(): load the card once, check, run an engine, write the manifest
    command.py       the ``modelcard tokenize`` subcommand

pyarrow, numpy and tqdm are imported inside functions, and ``ray_engine`` (which imports
ray) only by a Ray job, so ``modelcard.cli`` stays quick to import. The ``jobs`` extra
installs what the local engine needs; the ``ray`` extra adds Ray Data.
"""

from .inputs import JobError as JobError
from .job import tokenize as tokenize
from .records import RecordError as RecordError
from .settings import JobSettings as JobSettings

__all__ = ["JobError", "JobSettings", "RecordError", "tokenize"]
