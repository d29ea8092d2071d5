"""Loads in fresh processes: time to first encode, to first streamed text, and peak RSS.

Two views: in-process (from the load call to the first encode's result, or to the first
text a decode stream yields, imports done) and process-level (from spawning the
interpreter to the first encode's result, so imports count). Children share a bytecode
cache, filled by warm-up children, so no variant pays for compiling its library's sources.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .timing import spread

CHILD = Path(__file__).with_name("load_child.py")
MARK = "MCBENCH-LOAD "


def _hybrid(decoder_load: str) -> dict[str, str]:
    return {
        "kind": "modelcard",
        "backend": "fastokens",
        "decoder": "huggingface",
        "decoder_load": decoder_load,
    }


#: mc-fastokens decodes natively, so decoder_load does not apply to it; the hybrids
#: (fastokens encodes, HF decodes) load HF as their decoder_load says.
VARIANTS: dict[str, dict[str, str]] = {
    "hf": {"kind": "hf"},
    "fastokens": {"kind": "fastokens"},
    "mc-default": {"kind": "modelcard", "backend": "default"},
    "mc-fastokens": {"kind": "modelcard", "backend": "fastokens"},
    "mc-hybrid-lazy": _hybrid("lazy"),
    "mc-hybrid-background": _hybrid("background"),
    "mc-hybrid-eager": _hybrid("eager"),
}
_NEEDS_FASTOKENS = {"fastokens", "mc-fastokens", *(v for v in VARIANTS if "hybrid" in v)}
_TEXT_LIMIT = 4000


def _child_env(pycache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env.setdefault("TOKENIZERS_PARALLELISM", "true")
    return env


def run_child(variant: str, directory: Path, text: str, env: dict[str, str]) -> dict[str, Any]:
    """One fresh process; its figures plus the parent's view of the process."""
    args = {**VARIANTS[variant], "dir": str(directory.resolve()), "text": text[:_TEXT_LIMIT]}
    spawned = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(CHILD), json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    ended = time.monotonic()
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            out: dict[str, Any] = json.loads(line[len(MARK) :])
            out["process_to_first_encode_s"] = out["ready_monotonic"] - spawned
            out["interpreter_start_s"] = out["started_monotonic"] - spawned
            out["process_wall_s"] = ended - spawned
            return out
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit {proc.returncode}: {tail}"}


def measure_loads(
    targets: list[tuple[str, Path, str, bool]],
    variants: tuple[str, ...],
    reps: int,
    pycache: Path,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """``targets``: (name, directory, first-encode text, fastokens loads it) per tokenizer."""
    env = _child_env(pycache)
    # Fill the shared bytecode cache, every module a variant imports, before anything is timed.
    warm = [("hf", "mc-default"), ("fastokens", "mc-fastokens", "mc-hybrid-eager")]
    for wanted_fastokens, group in zip((False, True), warm, strict=True):
        usable = [t for t in targets if t[3] or not wanted_fastokens]
        if usable:
            _, directory, text, _ = usable[0]
            for variant in group:
                run_child(variant, directory, text, env)
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for rep in range(reps):
        for name, directory, text, fast_ok in targets:
            runnable = [v for v in variants if fast_ok or v not in _NEEDS_FASTOKENS]
            if not runnable:
                continue
            k = rep % len(runnable)
            progress(f"loads rep {rep + 1}/{reps}: {name}")
            for variant in runnable[k:] + runnable[:k]:
                result = run_child(variant, directory, text, env)
                raw.setdefault(name, {}).setdefault(variant, []).append(result)
    return {"raw": raw, "summary": {n: _summarize(v) for n, v in raw.items()}}


_FIELDS = (
    "load_to_first_encode_s",
    "load_to_first_encode_cpu_s",
    "load_to_first_stream_s",
    "load_to_first_stream_cpu_s",
    "first_stream_s",
    "stream_steps_to_text",
    "load_s",
    "first_encode_s",
    "process_to_first_encode_s",
    "import_s",
    "interpreter_start_s",
    "repeat_load_s",
    "first_decode_s",
    "rss_import_mib",
    "rss_load_mib",
    "rss_decode_mib",
)


_RATIOS = (
    ("mc-fastokens", "fastokens"),
    ("mc-hybrid-lazy", "fastokens"),
    ("mc-hybrid-background", "fastokens"),
    ("mc-hybrid-eager", "fastokens"),
    ("mc-default", "hf"),
    ("fastokens", "hf"),
)
_VIEWS = (
    "load_to_first_encode_s",
    "load_to_first_encode_cpu_s",
    "load_to_first_stream_s",
    "load_to_first_stream_cpu_s",
    "process_to_first_encode_s",
    "rss_load_mib",
    "rss_decode_mib",
)


def _summarize(by_variant: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    variants: dict[str, Any] = {}
    for variant, runs in by_variant.items():
        good = [r for r in runs if "error" not in r]
        entry: dict[str, Any] = {
            "runs": len(runs),
            "errors": [r["error"] for r in runs if "error" in r],
        }
        for field in _FIELDS:
            values = [r[field] for r in good if r.get(field) is not None]
            if values:
                entry[field] = spread(values)
        variants[variant] = entry
    ratios: dict[str, Any] = {}
    for num, den in _RATIOS:
        if num not in by_variant or den not in by_variant:
            continue
        for view in _VIEWS:
            pairs = zip(by_variant[num], by_variant[den], strict=False)
            values = [a[view] / b[view] for a, b in pairs if a.get(view) and b.get(view)]
            if values:
                ratios[f"{num}/{den}:{view}"] = spread(values)
    return {"variants": variants, "ratios": ratios}
