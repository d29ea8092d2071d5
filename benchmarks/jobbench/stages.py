"""Where a worker's time goes: each stage of the job's pipeline, timed on one thread.

    python benchmarks/jobbench/stages.py CORPUS.jsonl --model DIR [--tokenizer fastokens]

Runs in this process, with one encode thread as a job's worker has, the same functions
the engines run, stage by stage, over the whole file: cutting it into chunks, sending a
task to a worker (pickling what the engine sends), reading and parsing the JSON lines, encoding,
building the Arrow table, writing Parquet. Start-up is measured in fresh interpreters:
the imports a worker needs and the card load. Prints JSON: CPU and wall seconds per
stage. It uses only functions an older checkout also has (``PYTHONPATH=...``), so it
gives the *before* column too.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.update(RAYON_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")

_START = """
import json, os, sys, time
os.environ.update(RAYON_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
start = time.perf_counter(); cpu = time.process_time()
try:
    import modelcard.jobs.worker
except ImportError:  # before: the local engine held the worker's code
    import modelcard.jobs.local_engine
import numpy, pyarrow.parquet
from modelcard import ModelCard
imported = time.perf_counter(); imported_cpu = time.process_time()
ModelCard(model=sys.argv[1], tokenizer=sys.argv[2]).load()
print(json.dumps({
    "imports": [imported - start, imported_cpu - cpu],
    "card_load": [time.perf_counter() - imported, time.process_time() - imported_cpu],
}))
"""


def start_up(model: str, tokenizer: str, repeat: int = 3) -> dict[str, Any]:
    """A worker's start-up in fresh interpreters: spawn, imports, card load (medians)."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", _START, model, tokenizer],
            capture_output=True,
            text=True,
            check=True,
        )
        total = time.perf_counter() - started
        figures = json.loads(out.stdout)
        figures["process"] = [total, None]
        runs.append(figures)

    def median(key: str, index: int) -> float | None:
        values = sorted(r[key][index] for r in runs if r[key][index] is not None)
        return values[len(values) // 2] if values else None

    return {
        key: {"wall_seconds": median(key, 0), "cpu_seconds": median(key, 1)}
        for key in ("imports", "card_load", "process")
    }


class _Clock:
    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}

    def __call__(self, name: str, wall: float, cpu: float) -> None:
        total = self.totals.setdefault(name, [0.0, 0.0])
        total[0] += time.perf_counter() - wall
        total[1] += time.process_time() - cpu


def pipeline(corpus: Path, model: str, tokenizer: str, chunk_bytes: int) -> dict[str, Any]:
    import numpy as np
    import pyarrow.parquet as pq

    from modelcard import ModelCard
    from modelcard.jobs import encode as encode_module, inputs

    options = getattr(encode_module, "parquet_options", lambda: {"compression": "zstd"})()
    tok = ModelCard(model=model, tokenizer=tokenizer).load()
    file = inputs.list_inputs(corpus)[0][0]
    clock = _Clock()
    out = corpus.parent / "stages.parquet"
    writer = pq.ParquetWriter(out, encode_module.output_schema(), **options)
    tokens = 0
    with open(file.path, "rb", buffering=0) as stream:
        chunks = inputs.iter_jsonl_chunks(stream, chunk_bytes)
        while True:
            wall, cpu = time.perf_counter(), time.process_time()
            chunk = next(chunks, None)
            clock("scan and cut (reader)", wall, cpu)
            if chunk is None:
                break
            wall, cpu = time.perf_counter(), time.process_time()
            if isinstance(chunk[-1], bytes):  # before: the reader sent the bytes
                first_row, data = chunk[0], chunk[-1]
                task = inputs.JsonlChunk(file, first_row, data)
                pickle.loads(pickle.dumps(task))
            else:  # now: the position, and the worker reads the bytes
                first_row, offset, length = chunk
                task = inputs.JsonlChunk(file, first_row, offset, length)
                task = pickle.loads(pickle.dumps(task))
            clock("task to worker (pickle)", wall, cpu)
            wall, cpu = time.perf_counter(), time.process_time()
            if not isinstance(chunk[-1], bytes):
                data = task.read()
            parsed = inputs.parse_jsonl_chunk(file.source, first_row, data, "text", False)
            clock("read and parse JSON", wall, cpu)
            wall, cpu = time.perf_counter(), time.process_time()
            ids, offsets = tok.encode_batch_flat(parsed.values)
            clock("encode", wall, cpu)
            wall, cpu = time.perf_counter(), time.process_time()
            rows = np.asarray(parsed.rows, dtype=np.int64)
            table = encode_module.output_table(
                encode_module.Encoded(file.source, rows, ids, offsets, [])
            )
            clock("Arrow table", wall, cpu)
            wall, cpu = time.perf_counter(), time.process_time()
            writer.write_table(table)
            clock("Parquet write", wall, cpu)
            tokens += len(ids)
    wall, cpu = time.perf_counter(), time.process_time()
    writer.close()
    clock("Parquet write", wall, cpu)
    size = out.stat().st_size
    out.unlink()
    return {
        "bytes": file.size,
        "tokens": tokens,
        "parquet_bytes": size,
        "parquet_options": options,
        "stages": {
            name: {"wall_seconds": wall, "cpu_seconds": cpu}
            for name, (wall, cpu) in clock.totals.items()
        },
    }


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--model", required=True)
    parser.add_argument("--tokenizer", default="fastokens")
    parser.add_argument("--chunk-bytes", type=int, default=4 * 2**20)
    args = parser.parse_args()
    result = {
        "start_up": start_up(args.model, args.tokenizer),
        **pipeline(args.corpus, args.model, args.tokenizer, args.chunk_bytes),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
