"""Benchmark modelcard against the raw libraries it wraps, side by side, in one run.

    python benchmarks/run.py [--tokenizers DIR] [--texts DIR] [--out DIR] [--quick]

Writes results.md (targets and tables of ratios beside absolute figures), results.json
(every figure), throughput.png and prints PASS/FAIL per target. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import logging
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcbench import contenders as ct, machine, report, targets
from mcbench.corpus import load_corpus
from mcbench.loads import measure_loads
from mcbench.plan import ALL_LOAD_VARIANTS, PLANS, Plan
from mcbench.workloads import Slices, make_slices, parity, prepare, run_all, warm_up

REPO = Path(__file__).resolve().parents[1]
_PARITY_TEXTS = 24


def _default(shared: Path, bundled: Path) -> Path:
    return shared if shared.is_dir() else bundled


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tokenizers",
        type=Path,
        default=_default(REPO.parent / "shared" / "tokenizers", REPO / "fixtures"),
        help="directory of model folders holding tokenizer.json "
        "(default: ../shared/tokenizers if it exists, else fixtures/)",
    )
    parser.add_argument(
        "--texts",
        type=Path,
        default=_default(REPO.parent / "shared" / "texts", REPO / "fixtures" / "texts"),
        help="text corpus (default: ../shared/texts if it exists, else fixtures/texts)",
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "out", help="output directory"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small, fast run for development (--plan quick)"
    )
    parser.add_argument(
        "--plan",
        choices=sorted(PLANS),
        help="full (default), quick, or smoke (every code path once, for CI; measures nothing)",
    )
    parser.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="one more model folder holding tokenizer.json, e.g. the Gemma-size file "
        "benchmarks/make_big_vocab.py builds (repeatable)",
    )
    parser.add_argument("--only", help="comma-separated tokenizer folder names to run")
    parser.add_argument("--skip-loads", action="store_true", help="no fresh-process load runs")
    parser.add_argument("--load-reps", type=int, help="fresh processes per load variant")
    parser.add_argument(
        "--load-variants",
        help=f"comma-separated subset of {','.join(ALL_LOAD_VARIANTS)}",
    )
    return parser.parse_args(argv)


class Progress:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:7.1f}s] {message}", file=sys.stderr, flush=True)


def _quiet_logging() -> None:
    """The benchmark is the application here: keep modelcard's debug events off stdout."""
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _tokenizer_dirs(root: Path, extra: list[Path], only: str | None) -> list[Path]:
    dirs = sorted(p.parent for p in root.glob("*/tokenizer.json"))
    for directory in extra:
        if not (directory / "tokenizer.json").is_file():
            raise SystemExit(
                f"--extra: no tokenizer.json in {directory} "
                "(python benchmarks/make_big_vocab.py builds the Gemma-size one)"
            )
        if directory.name in {d.name for d in dirs}:
            raise SystemExit(f"--extra: {directory.name} is also a folder of {root}")
        dirs.append(directory)
    if only:
        wanted = {name.strip() for name in only.split(",")}
        dirs = [d for d in dirs if d.name in wanted]
        missing = wanted - {d.name for d in dirs}
        if missing:
            raise SystemExit(f"--only: no tokenizer.json under {root} for {sorted(missing)}")
    if not dirs:
        raise SystemExit(f"no */tokenizer.json under {root}")
    return dirs


def _segment_cached(
    directory: Path, plan: Plan, found: dict[str, ct.Contender]
) -> ct.Contender | None:
    """modelcard fastokens with the segment cache on, for the cache workload."""
    if not found[ct.MC_FASTOKENS].ok:
        return None
    try:
        obj = ct.load_modelcard(directory, "fastokens", cache_bytes=plan.cache_bytes)
    except Exception as exc:
        return ct.Contender(ct.MC_CACHE, "modelcard", None, f"refused: {exc}")
    return ct.Contender(ct.MC_CACHE, "modelcard", obj)


def _screen(directory: Path, found: dict[str, ct.Contender]) -> Any | None:
    """A fastokens instance of its own, to find texts fastokens cannot encode.

    It is thrown away afterwards: an instance that saw the timed texts has them in its
    caches, so no timed instance may do this screening.
    """
    if not found[ct.FASTOKENS].ok:
        return None
    return ct.load_fastokens(directory / "tokenizer.json")


def _gate_tiktoken(peer: ct.Contender | None, checked: dict[str, Any]) -> None:
    """A tiktoken peer is timed only if it gave HF's ids on every parity sample."""
    if peer is not None and peer.ok and checked.get(ct.TIKTOKEN):
        peer.obj = None
        peer.unavailable = (
            f"ids differ from HF on {checked[ct.TIKTOKEN]}/{checked['texts']} sample texts"
        )


def bench_tokenizer(
    directory: Path, slices: Slices, plan: Plan, progress: Progress
) -> tuple[dict[str, Any], str | None]:
    """All in-process measures for one tokenizer; also returns its first-encode text."""
    started = time.monotonic()
    found = ct.load_contenders(directory)
    cached = _segment_cached(directory, plan, found)
    prep = prepare(slices, found, _screen(directory, found), plan)
    checked = parity(found, prep.warm[:_PARITY_TEXTS])
    _gate_tiktoken(found.get(ct.TIKTOKEN), checked)
    warm_up(found, prep)
    if cached is not None and cached.ok:
        ct.encode_each(cached, prep.warm)
    measures = run_all(
        found, prep, cached, lambda m: progress(f"{directory.name}: {m}"), plan.stream_context
    )
    strict = found[ct.MC_FASTOKENS]
    entry = {
        "path": str(directory),
        "contenders": {
            n: {"kind": c.kind, "unavailable": c.unavailable}
            for n, c in {**found, **({ct.MC_CACHE: cached} if cached else {})}.items()
        },
        "prepared": prep.describe(),
        "parity": checked,
        "encode_fallbacks": strict.obj.encode_fallbacks if strict.ok else None,
        "measures": measures,
        "elapsed_s": time.monotonic() - started,
    }
    return entry, (prep.warm[0] if prep.warm else None)


def _release() -> None:
    from modelcard.loader import clear_cache

    clear_cache()
    gc.collect()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = PLANS[args.plan or ("quick" if args.quick else "full")]
    if args.load_reps is not None:
        plan = replace(plan, load_reps=args.load_reps)
    if args.load_variants:
        variants = tuple(v.strip() for v in args.load_variants.split(","))
        unknown = set(variants) - set(ALL_LOAD_VARIANTS)
        if unknown:
            raise SystemExit(
                f"--load-variants: unknown {sorted(unknown)}; choose from "
                f"{','.join(ALL_LOAD_VARIANTS)}"
            )
        plan = replace(plan, load_variants=variants)
    progress = Progress()
    _quiet_logging()
    started = datetime.now(UTC)
    meta: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "plan": plan.__dict__,
        "tokenizers_dir": str(args.tokenizers),
        "extra_tokenizers": [str(d) for d in args.extra],
        "texts_dir": str(args.texts),
        "machine": machine.describe(),
        "loadavg_start": machine.load_average(),
    }
    dirs = _tokenizer_dirs(args.tokenizers, args.extra, args.only)
    progress(f"{plan.name} run: {len(dirs)} tokenizers from {args.tokenizers}")
    corpus = load_corpus(args.texts)
    meta["corpus"] = corpus.describe()
    slices = make_slices(corpus, plan)
    gc.freeze()  # the corpus stays for the whole run; keep it out of every collection
    results: dict[str, Any] = {"meta": meta, "tokenizers": {}}
    load_targets = []
    for directory in dirs:
        progress(f"{directory.name}: loading contenders")
        entry, first_text = bench_tokenizer(directory, slices, plan, progress)
        results["tokenizers"][directory.name] = entry
        fast_ok = entry["contenders"][ct.FASTOKENS]["unavailable"] is None
        load_targets.append((directory.name, directory, first_text or "Hello, world!", fast_ok))
        _release()
    if not args.skip_loads:
        pycache = Path(tempfile.gettempdir()) / "modelcard-bench-pycache"
        results["loads"] = measure_loads(
            load_targets, plan.load_variants, plan.load_reps, pycache, progress
        )
    meta["loadavg_end"] = machine.load_average()
    meta["duration_s"] = time.monotonic() - progress.started
    results["targets"] = targets.evaluate(results)
    return _write(results, args.out, progress)


def _write(results: dict[str, Any], out: Path, progress: Progress) -> int:
    out.mkdir(parents=True, exist_ok=True)
    report.write_json(results, out / "results.json")
    text = report.markdown(results)
    (out / "results.md").write_text(text + "\n", encoding="utf-8")
    problem = report.chart(results, out / "throughput.png")
    if problem:
        progress(f"no chart: {problem}")
    print(f"{'':6}{'target':<40} {'tokenizer':<30} {'wall':>9} {'cpu':>7}  threshold")
    for t in results["targets"]:
        value = "-" if t["value"] is None else f"{t['value']:.3f}"
        cpu = "-" if t.get("cpu_value") is None else f"{t['cpu_value']:.3f}"
        verdict = "PASS" if t["passed"] else "FAIL"
        print(
            f"{verdict:<6}{t['target']:<40} {t['tokenizer']:<30} {value:>9} {cpu:>7}  "
            f"{t['threshold']}"
        )
    passed = sum(t["passed"] for t in results["targets"])
    print(f"{passed} of {len(results['targets'])} targets pass; results in {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
