"""The issue's targets, each judged on ratios measured in the same run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import contenders as ct

REPEAT_LOAD_MAX_S = 0.005
REPEAT_LOAD_MAX_FRACTION = 0.01
#: mc-fastokens (native decode) against the hybrid that decodes with HF.
DECODE_GAIN_MIN = 1.4


def _target(
    name: str,
    tokenizer: str,
    value: float | None,
    threshold: str,
    passed: bool,
    detail: str = "",
    cpu: float | None = None,
) -> dict[str, Any]:
    return {
        "target": name,
        "tokenizer": tokenizer,
        "value": value,
        "cpu_value": cpu,
        "threshold": threshold,
        "passed": passed,
        "detail": detail,
    }


def _ratio(measures: dict[str, Any], measure: str, pair: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = measures.get(measure, {}).get("ratios", {}).get(pair)
    return found if found and found.get("n") else None


def _cpu(measures: dict[str, Any], measure: str, pair: str) -> float | None:
    found = measures.get(measure, {}).get("cpu_ratios", {}).get(pair)
    return found["median"] if found and found.get("n") else None


def _iqr(r: dict[str, Any]) -> str:
    return f"IQR {r['p25']:.3f}-{r['p75']:.3f}, n={r['n']}"


def _encode_targets(name: str, measures: dict[str, Any]) -> Iterator[dict[str, Any]]:
    pair = f"{ct.MC_FASTOKENS}/{ct.FASTOKENS}"
    for measure in ("chat", "long", "batch"):
        if r := _ratio(measures, measure, pair):
            yield _target(
                f"wrapper overhead: {measure}",
                name,
                r["median"],
                "≥ 0.97x raw fastokens",
                r["median"] >= 0.97,
                _iqr(r),
                _cpu(measures, measure, pair),
            )
    if r := _ratio(measures, "chat", f"{ct.MC_FASTOKENS}/{ct.MC_DEFAULT}"):
        yield _target(
            "backend gain: chat",
            name,
            r["median"],
            "≥ 10x modelcard default",
            r["median"] >= 10,
            _iqr(r),
            _cpu(measures, "chat", f"{ct.MC_FASTOKENS}/{ct.MC_DEFAULT}"),
        )
    if r := _ratio(measures, "flat", pair):
        yield _target(
            "encode_batch_flat",
            name,
            r["median"],
            "≥ 0.95x raw fastokens",
            r["median"] >= 0.95,
            _iqr(r),
            _cpu(measures, "flat", pair),
        )
    yield from _decode_targets(name, measures)
    cache = measures.get("cache")
    if cache is not None:
        r = _ratio(measures, "cache", f"{ct.MC_CACHE}/{ct.MC_FASTOKENS}")
        speed = f"speedup {r['median']:.2f}x ({_iqr(r)})" if r else "no speedup figure"
        yield _target(
            "segment cache: identical ids",
            name,
            r["median"] if r else None,
            "ids identical; speedup reported",
            bool(cache.get("identical")),
            speed,
            _cpu(measures, "cache", f"{ct.MC_CACHE}/{ct.MC_FASTOKENS}"),
        )


def _decode_targets(name: str, measures: dict[str, Any]) -> Iterator[dict[str, Any]]:
    pair = f"{ct.MC_FASTOKENS}/{ct.MC_HYBRID}"
    if r := _ratio(measures, "decode", pair):
        yield _target(
            "decode: native vs hybrid",
            name,
            r["median"],
            f"≥ {DECODE_GAIN_MIN}x modelcard decoder=huggingface",
            r["median"] >= DECODE_GAIN_MIN,
            _iqr(r),
            _cpu(measures, "decode", pair),
        )
    # Each modelcard stream against the raw stream of the library that decodes for it.
    for num, den, raw in (
        (ct.MC_FASTOKENS, ct.FASTOKENS, "raw fastokens"),
        (ct.MC_HYBRID, ct.HF, "raw HF"),
        (ct.MC_DEFAULT, ct.HF, "raw HF"),
    ):
        if r := _ratio(measures, "stream", f"{num}/{den}"):
            yield _target(
                f"decode stream per token ({num})",
                name,
                r["median"],
                f"≤ 1.1x {raw} DecodeStream",
                r["median"] <= 1.1,
                _iqr(r),
                _cpu(measures, "stream", f"{num}/{den}"),
            )


#: (target, wall-clock field, CPU-time field) of the mc-fastokens ÷ fastokens load ratios.
_LOAD_RATIOS = (
    ("load → first encode", "load_to_first_encode_s", "load_to_first_encode_cpu_s"),
    ("load → first streamed text", "load_to_first_stream_s", "load_to_first_stream_cpu_s"),
    ("peak RSS after load+encode+decode", "rss_decode_mib", None),
)


def _load_targets(name: str, loads: dict[str, Any]) -> Iterator[dict[str, Any]]:
    ratios = loads.get("ratios", {})
    for target, view, cpu_view in _LOAD_RATIOS:
        r = ratios.get(f"mc-fastokens/fastokens:{view}")
        if not r:
            continue
        cpu = (ratios.get(f"mc-fastokens/fastokens:{cpu_view}") or {}) if cpu_view else {}
        yield _target(
            target,
            name,
            r["median"],
            "≤ 1.1x raw fastokens",
            r["median"] <= 1.1,
            _iqr(r),
            cpu.get("median"),
        )
    for variant in ("mc-fastokens", "mc-default"):
        entry = loads.get("variants", {}).get(variant, {})
        repeat = entry.get("repeat_load_s", {}).get("median")
        first = entry.get("load_s", {}).get("median")
        if repeat is None or first is None:
            continue
        limit = max(REPEAT_LOAD_MAX_S, REPEAT_LOAD_MAX_FRACTION * first)
        yield _target(
            f"repeat load ({variant})",
            name,
            repeat,
            f"≈ 0 (≤ {limit * 1e3:.1f} ms)",
            repeat <= limit,
            f"first load {first * 1e3:.0f} ms, repeat {repeat * 1e3:.3f} ms",
        )


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target for every tokenizer it applies to."""
    out: list[dict[str, Any]] = []
    for name, entry in results["tokenizers"].items():
        measures = {m["measure"]: m for m in entry.get("measures", [])}
        out.extend(_encode_targets(name, measures))
        loads = results.get("loads", {}).get("summary", {}).get(name)
        if loads:
            out.extend(_load_targets(name, loads))
    return out
