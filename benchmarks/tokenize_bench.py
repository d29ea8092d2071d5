"""Benchmark ``modelcard tokenize``: local scaling, Ray against local, where the time goes.

    python benchmarks/tokenize_bench.py                    # 200 MB, 2 repetitions (~10 min)
    python benchmarks/tokenize_bench.py --mb 40 --repeat 1 --no-ray-address   # quicker
    PYTHONPATH=/path/to/other/checkout python benchmarks/tokenize_bench.py --label before
    python benchmarks/tokenize_bench.py --before /path/to/other/checkout   # both, interleaved

Builds a JSONL corpus of ``--mb`` MB of text from ../shared/texts (``jobbench/corpus.py``:
chat, multilingual, long documents, code, stress cases, shuffled) and its half, every
other record, then runs, each job in a fresh process, on the same card and CPUs:

* ``local x1`` and ``local x2``: the local engine with 1 and 2 workers;
* ``ray``: the Ray engine as a user runs it without a cluster, starting (and stopping)
  its own Ray with the machine's CPUs: start-up included;
* ``ray-address``: the Ray engine against an already-running Ray (``ray start --head``,
  given as ``RAY_ADDRESS``), warmed by one tiny job first, as a running cluster is;
* ``ray floor``, once per repetition: a job that imports and starts Ray, runs one empty
  task per CPU and shuts Ray down, the least a Ray job started here takes; and ``ray-data
  floor``, the same through a Ray Data dataset (import Ray Data, one empty read task per
  CPU), the least the engine took when it ran on Ray Data.

Every contender runs on the half (N) and the whole (2N) in each repetition, contenders
taking turns in an order that rotates; figures are medians over repetitions. The
whole-job time is ``tokenize()``'s wall time in that process (Ray's import and start
included); the steady state is time(2N) - time(N), what N more bytes cost once the job
runs. Every ratio below comes from this one run. CPU time (this process and the job's
processes) is reported beside wall time: on a shared machine it says how much work each
engine did, whatever else ran. ``jobbench/stages.py`` times each stage of a worker's
pipeline on one thread, for the table of where the time goes.

The script uses only the public API (plus wrappers that time ``ray.init`` and the
card load), so ``PYTHONPATH`` pointed at an older checkout measures that code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEXTS = ROOT.parent / "shared" / "texts"
sys.path.insert(0, str(HERE))

# A throwaway one-node cluster: no token to hand around.
CLUSTER_ENV = {"RAY_AUTH_MODE": "disabled"}

# The least a job on a Ray it starts can take here: what the Ray engine does around the
# encoding (import and start Ray, run one task per CPU, shut down), with tasks that do
# nothing. It uses only ray, so it is the same before and after. The Ray Data floor (the
# engine before it ran Ray tasks) also imports Ray Data and runs one empty read task per
# CPU through a dataset.
RAY_FLOOR = """
import json, os, sys, time
started = time.perf_counter()
import ray
ray.init(include_dashboard=False, log_to_driver=False)
cpus = int(ray.cluster_resources()["CPU"])
if sys.argv[1] == "ray-data":
    import ray.data
    ray.data.DataContext.get_current().enable_progress_bars = False
    rows = ray.data.range(cpus, override_num_blocks=cpus).map_batches(
        lambda batch: batch, batch_size=None, num_cpus=1
    )
    count = sum(len(batch["id"]) for batch in rows.iter_batches(batch_size=None))
else:
    nothing = ray.remote(num_cpus=1)(lambda n: n)
    count = len(ray.get([nothing.remote(n) for n in range(cpus)]))
ray.shutdown()
print(json.dumps({"wall_seconds": time.perf_counter() - started, "rows": count}))
"""

TARGETS = {
    "local_scaling_whole": (">=", 1.6),
    "ray_vs_local_steady": ("<=", 1.2),
    "ray_vs_local_whole_half": ("<=", 2.0),
}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.update(extra or {})
    return env


# Jobs, and the Ray they start, run in an empty folder of their own: not in a checkout,
# whose modelcard/ would shadow the one PYTHONPATH names (Ray workers put their cwd first
# on sys.path), nor in a shared /tmp. Set by main().
NEUTRAL_CWD = ""


def run_child(spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    command = [sys.executable, str(HERE / "jobbench" / "child.py"), json.dumps(spec)]
    started = time.perf_counter()
    out = subprocess.run(command, env=env, capture_output=True, text=True, cwd=NEUTRAL_CWD)
    if out.returncode:
        raise SystemExit(f"job failed ({spec['engine']}):\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def ray_cluster(work: Path, cpus: int) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A one-node Ray (``ray start --head --block``), stopped with its processes after."""
    port = free_port()
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    command = [
        ray,
        "start",
        "--head",
        "--block",
        f"--port={port}",
        f"--num-cpus={cpus}",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={work / 'ray'}",
    ]
    process = subprocess.Popen(
        command,
        env=child_env(CLUSTER_ENV),
        cwd=NEUTRAL_CWD,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, stopped as one below
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("ray start --head did not come up")
            time.sleep(0.2)
        yield address, process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run_floor(env: dict[str, str], kind: str) -> dict[str, Any]:
    """The floor job: ``kind`` "ray" (Ray tasks) or "ray-data" (a Ray Data dataset)."""
    out = subprocess.run(
        [sys.executable, "-c", RAY_FLOOR, kind],
        env=env,
        capture_output=True,
        text=True,
        cwd=NEUTRAL_CWD,
    )
    if out.returncode:
        raise SystemExit(f"the Ray floor job failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the numeric figures of several runs of one job."""
    keys = ["wall_seconds", "first_rows_seconds", "process_seconds", "cpu_seconds"]
    out: dict[str, Any] = {}
    for key in keys:
        values = [r[key] for r in runs if r.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    out["tokens"] = runs[0]["tokens"]
    out["rows"] = runs[0]["rows"]
    return out


def total_cpu(result: dict[str, Any]) -> float | None:
    """CPU seconds of the job: this process, plus its workers or its Ray processes."""
    if "ray_cpu_seconds" in result:
        return float(result["driver_cpu_seconds"] + result["ray_cpu_seconds"])
    if result.get("engine") == "ray":
        return None  # a running cluster's processes, measured by the caller if at all
    return float(result["driver_cpu_seconds"] + result["children_cpu_seconds"])


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b; None when either is missing or not positive (a steady state lost in noise)."""
    return a / b if a is not None and b is not None and a > 0 and b > 0 else None


def stages(corpus: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, str(HERE / "jobbench" / "stages.py"), str(corpus)]
    command += ["--model", args.model, "--tokenizer", args.tokenizer]
    out = subprocess.run(
        command, env=child_env(), capture_output=True, text=True, check=True, cwd=NEUTRAL_CWD
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def print_stages(profile: dict[str, Any]) -> None:
    scale = 1e8 / profile["bytes"]
    print(f"stages of a worker, one thread, per 100 MB of input ({profile['tokens'] / 1e6:.0f}M")
    print(f"tokens per {profile['bytes'] / 1e6:.0f} MB), CPU / wall seconds:")
    for name, figures in profile["stages"].items():
        print(
            f"  {name:<26} {figures['cpu_seconds'] * scale:6.2f} / "
            f"{figures['wall_seconds'] * scale:6.2f}"
        )
    start = profile["start_up"]
    print(
        f"  start-up, per worker: imports {start['imports']['cpu_seconds']:.2f} s CPU, card "
        f"load {start['card_load']['cpu_seconds']:.2f} s CPU; a fresh process to loaded "
        f"{start['process']['wall_seconds']:.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=200.0, help="corpus size in MB of text")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved repetitions")
    parser.add_argument("--model", default=str(ROOT / "fixtures" / "qwen2.5"))
    parser.add_argument("--tokenizer", default="fastokens")
    parser.add_argument("--texts", type=Path, default=TEXTS)
    parser.add_argument("--no-ray", action="store_true", help="skip both Ray contenders")
    parser.add_argument("--no-ray-address", action="store_true", help="skip the running Ray")
    parser.add_argument("--no-stages", action="store_true", help="skip the stage profile")
    parser.add_argument("--corpus-dir", type=Path, help="build (or reuse) the corpus here")
    parser.add_argument("--label", default="", help="a name for this run in the JSON")
    parser.add_argument(
        "--before",
        type=Path,
        help="also run local x1, local x2 and ray from this checkout (as PYTHONPATH), "
        "interleaved with the others, as 'before ...'",
    )
    parser.add_argument(
        "--json", type=Path, default=ROOT / "benchmarks" / "results" / "tokenize_bench.json"
    )
    args = parser.parse_args()
    from jobbench.corpus import build

    cpus = len(os.sched_getaffinity(0))
    results: dict[str, Any] = {
        "label": args.label,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "pythonpath": os.environ.get("PYTHONPATH"),
        "machine": {"cpus": cpus, "python": platform.python_version()},
        "model": args.model,
        "tokenizer": args.tokenizer,
        "load_average_before": load_average(),
    }
    print(f"load average {results['load_average_before']}")
    global NEUTRAL_CWD
    with tempfile.TemporaryDirectory(prefix="tokenize-bench-") as tmp:
        work = Path(tmp)
        NEUTRAL_CWD = str(work / "cwd")
        os.mkdir(NEUTRAL_CWD)
        corpus_dir = args.corpus_dir or work / "corpus"
        manifest = corpus_dir / "corpus.json"
        if manifest.exists() and json.loads(manifest.read_text())["mb"] == args.mb:
            corpus = json.loads(manifest.read_text())
        else:
            corpus = {"mb": args.mb, **build(corpus_dir, args.mb, args.texts)}
            manifest.write_text(json.dumps(corpus))
        results["corpus"] = corpus
        full, half = Path(corpus["full"]), Path(corpus["half"])
        sizes = corpus["text_bytes"]
        print(
            f"corpus: {sizes['full'] / 1e6:.0f} MB of text ({corpus['records']['full']} "
            f"records, {corpus['passes']} passes over the shared texts); half: "
            f"{sizes['half'] / 1e6:.0f} MB",
            flush=True,
        )
        if not args.no_stages:
            profile = stages(half, args)
            results["stages"] = profile
            print_stages(profile)

        base = {"model": args.model, "tokenizer": args.tokenizer}
        contenders: dict[str, dict[str, Any]] = {
            "local x1": {"engine": "local", "workers": 1},
            "local x2": {"engine": "local", "workers": cpus},
        }
        if not args.no_ray:
            contenders["ray"] = {"engine": "ray", "workers": cpus}
            if not args.no_ray_address:
                contenders["ray-address"] = {"engine": "ray", "workers": cpus, "address": True}
        if args.before is not None:
            before = {"pythonpath": str(args.before.resolve())}
            for name in ("local x1", "local x2", "ray"):
                if name in contenders:
                    contenders[f"before {name}"] = {**contenders[name], **before}
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {
            name: {"half": [], "full": []} for name in contenders
        }
        with contextlib.ExitStack() as stack:
            cluster = None
            if "ray-address" in contenders:
                address, process = stack.enter_context(ray_cluster(work, cpus))
                cluster = (address, process)
                tiny = work / "tiny"
                tiny.mkdir()
                (tiny / "t.jsonl").write_text('{"text": "warm up"}\n', encoding="utf-8")
                spec = {**base, "engine": "ray", "workers": cpus, "input": str(tiny / "t.jsonl")}
                spec["output"] = str(work / "out-warm")
                first = run_child(spec, child_env({"RAY_ADDRESS": address, **CLUSTER_ENV}))
                results["ray_address_first_job_seconds"] = first["wall_seconds"]
                print(f"  running Ray at {address}: first (tiny) job {first['wall_seconds']:.2f} s")
            from jobbench.child import CpuSampler

            order = list(contenders)
            jobs = 0
            for repetition in range(args.repeat):
                turn = order[repetition % len(order) :] + order[: repetition % len(order)]
                for kind in ("ray", "ray-data") if "ray" in contenders else ():
                    floor = run_floor(child_env(), kind)
                    floor["load_average"] = load_average()
                    results.setdefault(f"{kind.replace('-', '_')}_floor_runs", []).append(floor)
                    print(
                        f"  [{repetition + 1}/{args.repeat}] {kind + ' floor':<16}      "
                        f"{floor['wall_seconds']:6.2f} s  (load {floor['load_average'][0]})",
                        flush=True,
                    )
                for name in turn:
                    for size, path in (("half", half), ("full", full)):
                        jobs += 1
                        spec = {**base, **contenders[name], "input": str(path)}
                        spec.pop("address", None)
                        pythonpath = spec.pop("pythonpath", None)
                        spec["output"] = str(work / f"out-{jobs}")
                        env = child_env({"PYTHONPATH": pythonpath} if pythonpath else None)
                        sampler = None
                        if contenders[name].get("address") and cluster is not None:
                            env = child_env({"RAY_ADDRESS": cluster[0], **CLUSTER_ENV})
                            sampler = CpuSampler(cluster[1].pid)
                        result = run_child(spec, env)
                        result["engine"] = spec["engine"]
                        if sampler is not None:
                            by_name = sampler.stop()
                            result["ray_cpu_seconds"] = sum(c for c, _ in by_name.values())
                        result["cpu_seconds"] = total_cpu(result)
                        result["load_average"] = load_average()
                        runs[name][size].append(result)
                        shutil.rmtree(spec["output"], ignore_errors=True)
                        cpu = result["cpu_seconds"]
                        print(
                            f"  [{repetition + 1}/{args.repeat}] {name:<16} {size}: "
                            f"{result['wall_seconds']:6.2f} s"
                            + (f", {cpu:6.2f} s CPU" if cpu is not None else "")
                            + f"  (load {result['load_average'][0]})",
                            flush=True,
                        )
    results["runs"] = runs
    summary: dict[str, dict[str, Any]] = {
        name: {size: median_run(r) for size, r in by_size.items()} for name, by_size in runs.items()
    }
    for by_size in summary.values():
        half_run, full_run = by_size["half"], by_size["full"]
        by_size["steady_seconds"] = full_run["wall_seconds"] - half_run["wall_seconds"]
        by_size["fixed_seconds"] = half_run["wall_seconds"] - by_size["steady_seconds"]
        if half_run["cpu_seconds"] is not None and full_run["cpu_seconds"] is not None:
            by_size["steady_cpu_seconds"] = full_run["cpu_seconds"] - half_run["cpu_seconds"]
        tokens = full_run["tokens"] - half_run["tokens"]
        by_size["steady_tokens_per_second"] = ratio(tokens, by_size["steady_seconds"])
    results["summary"] = summary
    tokens = {(n, s): summary[n][s]["tokens"] for n in summary for s in ("half", "full")}
    if len({tokens[(n, "full")] for n in summary}) != 1:
        raise SystemExit(f"the engines wrote different token counts: {tokens}")

    local1, local2 = summary["local x1"], summary["local x2"]
    ratios: dict[str, float | None] = {
        "local_scaling_whole": ratio(
            local1["full"]["wall_seconds"], local2["full"]["wall_seconds"]
        ),
        "local_scaling_steady": ratio(local1["steady_seconds"], local2["steady_seconds"]),
    }
    # The same scaling for a 10 GB job, from the fixed and per-byte parts measured here.
    per_byte = {n: summary[n]["steady_seconds"] / (sizes["full"] - sizes["half"]) for n in summary}
    ten_gb = {n: summary[n]["fixed_seconds"] + 10e9 * per_byte[n] for n in summary}
    results["extrapolated_10gb_seconds"] = ten_gb
    ratios["local_scaling_whole_10gb_extrapolated"] = ratio(ten_gb["local x1"], ten_gb["local x2"])
    stage_profile = results.get("stages")
    if stage_profile:
        raw = stage_profile["tokens"] / stage_profile["stages"]["encode"]["wall_seconds"]
        ratios["local_x2_steady_vs_raw_encode_x2"] = ratio(
            local2["steady_tokens_per_second"], 2 * raw
        )
    for kind in ("ray", "ray_data"):
        if results.get(f"{kind}_floor_runs"):
            floors = results[f"{kind}_floor_runs"]
            floor_seconds = statistics.median(r["wall_seconds"] for r in floors)
            results[f"{kind}_floor_seconds"] = floor_seconds
            # What the 2x target leaves for everything but Ray's own start, run and stop.
            ratios[f"{kind}_floor_vs_local_whole_half"] = ratio(
                floor_seconds, local2["half"]["wall_seconds"]
            )
    for old, new in (("before local x2", "local x2"), ("before ray", "ray")):
        if old in summary:
            key = new.replace(" ", "_").replace("-", "_")
            ratios[f"{key}_after_vs_before_whole_half"] = ratio(
                summary[new]["half"]["wall_seconds"], summary[old]["half"]["wall_seconds"]
            )
            ratios[f"{key}_after_vs_before_whole_full"] = ratio(
                summary[new]["full"]["wall_seconds"], summary[old]["full"]["wall_seconds"]
            )
            ratios[f"{key}_after_vs_before_cpu_full"] = ratio(
                summary[new]["full"]["cpu_seconds"], summary[old]["full"]["cpu_seconds"]
            )
    if "before local x1" in summary:
        ratios["before_local_scaling_whole"] = ratio(
            summary["before local x1"]["full"]["wall_seconds"],
            summary["before local x2"]["full"]["wall_seconds"],
        )
    for name in ("ray", "ray-address"):
        if name not in summary:
            continue
        key = name.replace("-", "_")
        ray_run = summary[name]
        ratios[f"{key}_vs_local_steady"] = ratio(
            ray_run["steady_seconds"], local2["steady_seconds"]
        )
        ratios[f"{key}_vs_local_whole_half"] = ratio(
            ray_run["half"]["wall_seconds"], local2["half"]["wall_seconds"]
        )
        ratios[f"{key}_vs_local_whole_full"] = ratio(
            ray_run["full"]["wall_seconds"], local2["full"]["wall_seconds"]
        )
        ratios[f"{key}_vs_local_steady_cpu"] = ratio(
            ray_run.get("steady_cpu_seconds"), local2.get("steady_cpu_seconds")
        )
    results["ratios"] = ratios
    results["load_average_after"] = load_average()

    print("\nmedians (wall seconds; steady = 2N - N):")
    print(f"  {'':<16} {'N':>8} {'2N':>8} {'steady':>8} {'fixed':>8} {'1st rows':>9}")
    for name, by_size in summary.items():
        first = by_size["half"]["first_rows_seconds"]
        print(
            f"  {name:<16} {by_size['half']['wall_seconds']:8.2f} "
            f"{by_size['full']['wall_seconds']:8.2f} {by_size['steady_seconds']:8.2f} "
            f"{by_size['fixed_seconds']:8.2f} {first if first is not None else float('nan'):9.2f}"
        )
    print(f"ratios (N = {sizes['half'] / 1e6:.0f} MB, 2N = {sizes['full'] / 1e6:.0f} MB):")
    for name, value in ratios.items():
        target = TARGETS.get(name)
        verdict = ""
        if target is not None and value is not None:
            sign, bound = target
            ok = value >= bound if sign == ">=" else value <= bound
            verdict = f"  target {sign} {bound}: {'PASS' if ok else 'FAIL'}"
        shown = "-" if value is None else f"{value:.2f}"
        print(f"  {name:<40} {shown:>6}{verdict}")
    for name in ("before ray", "ray"):
        ray_runs = runs.get(name, {}).get("half", [])
        if not ray_runs or not all("ray_processes" in r for r in ray_runs):
            continue
        names = sorted({n for r in ray_runs for n in r["ray_processes"]})
        by_process = {
            n: statistics.median(
                r["ray_processes"].get(n, {"cpu_seconds": 0.0})["cpu_seconds"] for r in ray_runs
            )
            for n in names
        }
        driver = statistics.median(r["driver_cpu_seconds"] for r in ray_runs)
        table = {"driver": driver, **by_process}
        results[f"{name.replace(' ', '_')}_half_cpu_by_process"] = table
        print(f"CPU seconds by process, {name} (started by the job), {sizes['half'] / 1e6:.0f} MB:")
        for n, cpu in sorted(table.items(), key=lambda x: -x[1]):
            print(f"  {n[:48]:<48} {cpu:6.2f}")
    loads = [r["load_average"][0] for by in runs.values() for rs in by.values() for r in rs]
    print(
        f"load average (1 min) before {results['load_average_before'][0]}, during "
        f"{min(loads):.1f}-{max(loads):.1f}, after {results['load_average_after'][0]}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
