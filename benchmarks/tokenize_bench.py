"""Benchmark ``modelcard tokenize``: local scaling, Ray overhead, job vs raw encoding.

    python benchmarks/tokenize_bench.py                       # ~50 MB of ../shared/texts
    python benchmarks/tokenize_bench.py --mb 10 --no-ray      # quicker
    python benchmarks/tokenize_bench.py --model ./fixtures/gpt2 --tokenizer default

Builds a JSONL slice of the shared corpus (chat messages, Leipzig sentences, long texts,
source code, the generated stress cases; records of at most ~4 KB, kinds interleaved),
then times, on the same input and card:

* raw: ``encode_batch_flat`` over the texts already in memory, in one process, with the
  backend's own threads (all cores) and with one thread (the job's per-worker setting);
* the local engine with 1 and with 2 workers;
* the Ray engine (``--workers`` = the CPUs), on a Ray started beforehand and warmed by
  one tiny job, as a running cluster is (both start-up times are reported apart).

Every job runs twice, on the whole slice and on its first half. Wall time includes the
fixed start-up (spawning workers or actors, each loading the card); the difference
between the two runs is the time of the second half alone, so its ratios show how the
engines scale once running. Both are printed; the JSON (``--json``) holds every number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ROOT.parent / "shared" / "texts"
RECORD_CHARS = 4000


def _pieces(text: str, limit: int = RECORD_CHARS) -> Iterator[str]:
    """Cut ``text`` at line ends into pieces of at most ~``limit`` characters."""
    piece: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        if size + len(line) > limit and piece:
            yield "".join(piece)
            piece, size = [], 0
        piece.append(line)
        size += len(line)
    if piece:
        yield "".join(piece)


def corpus_texts(texts: Path) -> Iterator[str]:
    """Real text from the shared corpus, interleaving kinds so any prefix is a mix."""
    sources: list[Iterator[str]] = []

    def chat() -> Iterator[str]:
        with open(texts / "chat.jsonl", encoding="utf-8") as file:
            for line in file:
                for message in json.loads(line)["messages"]:
                    yield message["content"]

    def files(folder: str, suffixes: tuple[str, ...]) -> Iterator[str]:
        for path in sorted((texts / folder).rglob("*")):
            if path.is_file() and path.suffix in suffixes:
                yield from _pieces(path.read_text(encoding="utf-8", errors="replace"))

    def field(name: str, key: str) -> Iterator[str]:
        with open(texts / name, encoding="utf-8") as file:
            for line in file:
                yield from _pieces(json.loads(line)[key])

    sources = [
        chat(),
        files("multilingual", (".txt",)),
        field("multilingual/emoji_sharegpt.jsonl", "text"),
        files("long", (".txt", ".rst", ".tex")),
        files("code", (".py", ".rs", ".go", ".js", ".ts", ".h", ".c", ".java", ".md", ".json")),
        field("adversarial.jsonl", "text"),
    ]
    while sources:
        for source in list(sources):
            for _ in range(8):
                text = next(source, None)
                if text is None:
                    sources.remove(source)
                    break
                if text.strip():
                    yield text


def build_corpus(folder: Path, megabytes: float) -> tuple[Path, Path, int]:
    """Write the slice and its first half as JSONL; return both paths and the text bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    budget = int(megabytes * 1e6)
    texts: list[str] = []
    size = 0
    for text in corpus_texts(TEXTS):
        texts.append(text)
        size += len(text.encode())
        if size >= budget:
            break
    full, half = folder / "full" / "slice.jsonl", folder / "half" / "slice.jsonl"
    # Every other record: the half has the same mix of kinds as the whole.
    for path, part in ((full, texts), (half, texts[::2])):
        path.parent.mkdir(exist_ok=True)
        with open(path, "w", encoding="utf-8") as file:
            for number, text in enumerate(part):
                file.write(json.dumps({"id": number, "text": text}, ensure_ascii=False) + "\n")
    return full, half, size


def raw_rate(corpus: Path, model: str, tokenizer: str, batch: int) -> dict[str, float]:
    """encode_batch_flat over in-memory texts in this process (threads as the env says)."""
    from modelcard import ModelCard

    with open(corpus, encoding="utf-8") as file:
        texts = [json.loads(line)["text"] for line in file]
    tok = ModelCard(model=model, tokenizer=tokenizer).load()
    tok.encode_batch_flat(texts[:64])  # start the backend's thread pool
    started = time.perf_counter()
    tokens = 0
    for start in range(0, len(texts), batch):
        tokens += len(tok.encode_batch_flat(texts[start : start + batch]).ids)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "tokens": tokens, "tokens_per_second": tokens / seconds}


def raw_in_subprocess(corpus: Path, args: argparse.Namespace, one_thread: bool) -> dict[str, Any]:
    env = dict(os.environ)
    if one_thread:
        env.update(RAYON_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    command = [
        sys.executable,
        __file__,
        "--raw-only",
        str(corpus),
        "--model",
        args.model,
        "--tokenizer",
        args.tokenizer,
    ]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run_job(
    corpus: Path, output: Path, args: argparse.Namespace, **settings: Any
) -> dict[str, Any]:
    from modelcard import ModelCard
    from modelcard.jobs import JobSettings, tokenize

    card = ModelCard(model=args.model, tokenizer=args.tokenizer)
    before = os.times()
    started = time.perf_counter()
    manifest = tokenize(
        card,
        JobSettings(input=corpus, output=output, overwrite=True, progress=False, **settings),
    )
    wall = time.perf_counter() - started
    after = os.times()
    return {
        "wall_seconds": wall,
        "rows": manifest["rows"],
        "tokens": manifest["tokens"],
        # CPU of the local engine's worker processes (Ray's are not our children): unlike
        # wall time, it does not depend on what else the machine is running.
        "worker_cpu_seconds": after.children_user
        - before.children_user
        + after.children_system
        - before.children_system,
        "driver_cpu_seconds": after.user - before.user + after.system - before.system,
    }


def timed_pair(
    name: str, full: Path, half: Path, work: Path, args: argparse.Namespace, **settings: Any
) -> dict[str, Any]:
    """Run a job on the whole slice and on its half; the difference is the second half."""
    best_full: dict[str, Any] | None = None
    best_half: dict[str, Any] | None = None
    for _ in range(args.repeat):
        one = run_job(full, work / f"{name}-full", args, **settings)
        two = run_job(half, work / f"{name}-half", args, **settings)
        if best_full is None or one["wall_seconds"] < best_full["wall_seconds"]:
            best_full = one
        if best_half is None or two["wall_seconds"] < best_half["wall_seconds"]:
            best_half = two
    assert best_full is not None
    assert best_half is not None
    marginal = best_full["wall_seconds"] - best_half["wall_seconds"]
    result = {
        "full": best_full,
        "half": best_half,
        "second_half_seconds": marginal,
        "second_half_tokens_per_second": (best_full["tokens"] - best_half["tokens"]) / marginal
        if marginal > 0
        else None,
        "wall_tokens_per_second": best_full["tokens"] / best_full["wall_seconds"],
    }
    print(
        f"  {name:<10} wall {best_full['wall_seconds']:6.2f}s "
        f"({result['wall_tokens_per_second'] / 1e6:5.2f} Mtok/s)   second half "
        f"{marginal:6.2f}s   worker cpu {best_full['worker_cpu_seconds']:6.2f}s "
        f"(half: {best_half['worker_cpu_seconds']:.2f}s)",
        flush=True,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=50.0, help="slice size in MB of text")
    parser.add_argument("--model", default=str(ROOT / "fixtures" / "qwen2.5"))
    parser.add_argument("--tokenizer", default="fastokens")
    parser.add_argument("--repeat", type=int, default=1, help="runs per job; the best is kept")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray engine")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "benchmarks" / "results" / "tokenize_bench.json"
    )
    parser.add_argument("--raw-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_only is not None:
        print(json.dumps(raw_rate(args.raw_only, args.model, args.tokenizer, 4096)))
        return 0

    cpus = len(os.sched_getaffinity(0))
    results: dict[str, Any] = {
        "machine": {"cpus": cpus, "python": platform.python_version()},
        "model": args.model,
        "tokenizer": args.tokenizer,
    }
    with tempfile.TemporaryDirectory(prefix="tokenize-bench-") as tmp:
        work = Path(tmp)
        full, half, size = build_corpus(work / "corpus", args.mb)
        results["corpus"] = {"bytes": size, "file_bytes": full.stat().st_size}
        print(f"corpus: {size / 1e6:.1f} MB of text, {full.stat().st_size / 1e6:.1f} MB JSONL")

        raw_all = raw_in_subprocess(full, args, one_thread=False)
        raw_one = raw_in_subprocess(full, args, one_thread=True)
        results["raw"] = {"all_threads": raw_all, "one_thread": raw_one}
        print(
            f"  raw        {raw_all['seconds']:6.2f}s ({raw_all['tokens_per_second'] / 1e6:5.2f} "
            f"Mtok/s, {cpus} threads); one thread {raw_one['seconds']:.2f}s"
        )

        local1 = timed_pair("local x1", full, half, work, args, workers=1)
        local2 = timed_pair("local x2", full, half, work, args, workers=2)
        results["local"] = {"1": local1, "2": local2}
        ray_result = None
        if not args.no_ray:
            import ray

            started = time.perf_counter()
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
            results["ray_init_seconds"] = time.perf_counter() - started
            try:
                # The first job on a new Ray also starts its worker processes; a running
                # cluster has them. Timed apart, on a few records.
                tiny = build_corpus(work / "tiny", 0.05)[0]
                first = run_job(tiny, work / "ray-first", args, engine="ray", workers=cpus)
                results["ray_first_job_seconds"] = first["wall_seconds"]
                print(
                    f"  ray init {results['ray_init_seconds']:.2f}s, first (tiny) job "
                    f"{first['wall_seconds']:.2f}s",
                    flush=True,
                )
                ray_result = timed_pair("ray", full, half, work, args, engine="ray", workers=cpus)
            finally:
                ray.shutdown()
            results["ray"] = ray_result

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    ratios = {
        "scaling_wall": ratio(local1["full"]["wall_seconds"], local2["full"]["wall_seconds"]),
        "scaling_second_half": ratio(local1["second_half_seconds"], local2["second_half_seconds"]),
        "job_vs_raw_all_threads": ratio(
            local2["wall_tokens_per_second"], raw_all["tokens_per_second"]
        ),
        "job_vs_raw_all_threads_second_half": ratio(
            local2["second_half_tokens_per_second"], raw_all["tokens_per_second"]
        ),
        "job_vs_raw_one_thread_per_worker": ratio(
            local2["second_half_tokens_per_second"], raw_one["tokens_per_second"] * 2
        ),
    }
    if ray_result is not None:
        ratios["ray_vs_local_wall"] = ratio(
            ray_result["full"]["wall_seconds"], local2["full"]["wall_seconds"]
        )
        ratios["ray_vs_local_second_half"] = ratio(
            ray_result["second_half_seconds"], local2["second_half_seconds"]
        )
        if ray_result["full"]["tokens"] != local2["full"]["tokens"]:
            raise SystemExit("the Ray and local engines wrote different token counts")
    # Worker CPU: the second worker's extra CPU is its start-up (interpreter, imports, card
    # load); what one worker spends beyond that is the encoding work itself.
    startup_cpu = local2["full"]["worker_cpu_seconds"] - local1["full"]["worker_cpu_seconds"]
    results["cpu_model"] = {
        "startup_cpu_per_worker": startup_cpu,
        "work_cpu": local1["full"]["worker_cpu_seconds"] - startup_cpu,
    }
    results["load_average"] = os.getloadavg()
    results["ratios"] = ratios
    model = results["cpu_model"]
    print(
        f"worker cpu: start-up {model['startup_cpu_per_worker']:.2f}s per worker, encoding "
        f"work {model['work_cpu']:.2f}s; load average {results['load_average'][0]:.1f}"
    )
    print("ratios:")
    for name, value in ratios.items():
        print(f"  {name:<38} {'-' if value is None else f'{value:.2f}'}")
    print("  (scaling: 1 worker / 2 workers, target >= 1.7; ray_vs_local: target <= 1.5;")
    print("   job_vs_raw: job tokens/s over raw encode_batch_flat tokens/s)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
