"""Write the results: Markdown tables (ratios beside absolute figures), a PNG chart, JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from . import contenders as ct

_THROUGHPUT = ("chat", "long", "multilingual", "code", "batch", "flat")
_TITLES = {
    "chat": "Single chat requests (encode, one call per request)",
    "long": "Long documents (encode, one call per document)",
    "multilingual": "Multilingual documents (encode)",
    "code": "Source code files (encode)",
    "batch": "Batch encode (chat requests, one call per batch → list of id lists)",
    "flat": "Bulk flat encode (encode_batch_flat → numpy ids + offsets)",
    "decode": "Decode (ids → text, one call per response)",
    "stream": "Decode stream, last 32 request ids as context (ns per step; lower is better)",
    "stream-prompt": "Decode stream, whole request as context (ns per step; lower is better)",
}
_NOTES = {
    "decode": "mc-fastokens decodes with fastokens itself; mc-hybrid (fastokens encodes, "
    "decoder=huggingface) and mc-default decode with HF tokenizers. 'same text as raw HF' "
    "compares each decode with raw HF's on the first repetition.",
    "flat": "Raw HF has no flat API; modelcard default builds the arrays from encode_batch_fast.",
    "batch": "Raw HF uses encode_batch_fast (no offsets), as modelcard default does.",
}
_RATIO_COLUMNS = (
    (ct.MC_FASTOKENS, ct.FASTOKENS, "mc-fastokens ÷ fastokens"),
    (ct.MC_FASTOKENS, ct.MC_DEFAULT, "mc-fastokens ÷ mc-default"),
    (ct.MC_DEFAULT, ct.HF, "mc-default ÷ tokenizers"),
    (ct.FASTOKENS, ct.HF, "fastokens ÷ tokenizers"),
    (ct.TIKTOKEN, ct.HF, "tiktoken ÷ tokenizers"),
)
_DECODE_RATIO_COLUMNS = (
    (ct.MC_FASTOKENS, ct.FASTOKENS, "mc-fastokens ÷ fastokens"),
    (ct.MC_FASTOKENS, ct.MC_HYBRID, "mc-fastokens ÷ mc-hybrid"),
    (ct.MC_HYBRID, ct.HF, "mc-hybrid ÷ tokenizers"),
    (ct.MC_DEFAULT, ct.HF, "mc-default ÷ tokenizers"),
    (ct.FASTOKENS, ct.HF, "fastokens ÷ tokenizers"),
)


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:,.{decimals}f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _ratio_cell(ratio: dict[str, Any] | None) -> str:
    if not ratio or not ratio.get("n"):
        return "-"
    return f"**{_num(ratio['median'])}x** ({_num(ratio['p25'])}-{_num(ratio['p75'])})"


def _contender_cell(entry: dict[str, Any] | None, status: str | None, scale: float) -> str:
    if entry is None:
        return status or "-"
    return _num(entry["median"] * scale)


def _status(result: dict[str, Any], name: str) -> str | None:
    reason: str | None = result["contenders"].get(name, {}).get("unavailable")
    if reason is None:
        return None
    return "refused" if reason.startswith("refused") else "n/a"


def _agreement(found: dict[str, Any]) -> str:
    match = found.get("text_matches_raw_hf", {})
    return ", ".join(f"{k}: {'yes' if v else '**NO**'}" for k, v in match.items()) or "-"


def _measure_table(results: dict[str, Any], measure: str) -> list[str]:
    rows = []
    decode = measure == "decode"
    scale, unit = (1e-6, "M tokens/s") if decode else (1.0, "")
    order = ct.ORDER if decode else ct.ENCODERS
    columns = _DECODE_RATIO_COLUMNS if decode else _RATIO_COLUMNS
    for name, entry in results["tokenizers"].items():
        found = {m["measure"]: m for m in entry.get("measures", [])}.get(measure)
        if found is None:
            continue
        unit = unit or found["unit"]
        cells = [
            _contender_cell(found["contenders"].get(c), _status(entry, c), scale) for c in order
        ]
        ratios = [_ratio_cell(found["ratios"].get(f"{a}/{b}")) for a, b, _ in columns]
        rows.append([name, *cells, *ratios, *([_agreement(found)] if decode else [])])
    if not rows:
        return []
    header = [
        "tokenizer",
        *(ct.LABELS[c] for c in order),
        *(t for _, _, t in columns),
        *(["same text as raw HF"] if decode else []),
    ]
    note = f" {_NOTES[measure]}" if measure in _NOTES else ""
    return [
        f"### {_TITLES[measure]}",
        "",
        f"Absolute figures in {unit} (median over reps).{note}",
        "",
        *_table(header, rows),
    ]


def _latency_table(results: dict[str, Any]) -> list[str]:
    rows = []
    for name, entry in results["tokenizers"].items():
        chat = {m["measure"]: m for m in entry.get("measures", [])}.get("chat")
        if chat is None:
            continue
        cells = []
        for c in ct.ENCODERS:
            lat = chat["contenders"].get(c, {}).get("latency_us")
            cells.append(f"{_num(lat['p50'])} / {_num(lat['p99'])}" if lat else "-")
        rows.append([name, *cells])
    if not rows:
        return []
    header = ["tokenizer", *(ct.LABELS[c] for c in ct.ENCODERS)]
    return ["### Chat request latency, p50 / p99 (µs per request)", "", *_table(header, rows)]


def _stream_table(results: dict[str, Any], measure: str) -> list[str]:
    rows = []
    for name, entry in results["tokenizers"].items():
        found = {m["measure"]: m for m in entry.get("measures", [])}.get(measure)
        if found is None:
            continue
        per = found["contenders"]
        setup = found.get("setup_us_per_stream", {})
        rows.append(
            [
                name,
                _num(found.get("prompt_tokens_median")),
                *(
                    _num(per[c]["median"]) if c in per else _status(entry, c) or "-"
                    for c in _STREAMERS
                ),
                *(_ratio_cell(found["ratios"].get(f"{a}/{b}")) for a, b, _ in _STREAM_RATIOS),
                " / ".join(_num(setup.get(c)) for c in _STREAMERS),
                _agreement(found),
            ]
        )
    if not rows:
        return []
    header = [
        "tokenizer",
        "context ids (median)",
        *(f"{c} ns/token" for c in _STREAMERS),
        *(t for _, _, t in _STREAM_RATIOS),
        f"setup µs/stream ({' / '.join(_STREAMERS)})",
        "same text as raw HF",
    ]
    return [
        f"### {_TITLES[measure]}",
        "",
        "tokenizers and fastokens are the raw libraries' own DecodeStream. mc-fastokens "
        "streams with fastokens; mc-hybrid and mc-default with HF.",
        "",
        *_table(header, rows),
    ]


_STREAMERS = (ct.HF, ct.FASTOKENS, ct.MC_DEFAULT, ct.MC_FASTOKENS, ct.MC_HYBRID)
_STREAM_RATIOS = (
    (ct.MC_FASTOKENS, ct.FASTOKENS, "mc-fastokens ÷ raw fastokens"),
    (ct.MC_HYBRID, ct.HF, "mc-hybrid ÷ raw HF"),
    (ct.MC_DEFAULT, ct.HF, "mc-default ÷ raw HF"),
    (ct.FASTOKENS, ct.HF, "raw fastokens ÷ raw HF"),
)


def _cache_table(results: dict[str, Any]) -> list[str]:
    rows = []
    for name, entry in results["tokenizers"].items():
        found = {m["measure"]: m for m in entry.get("measures", [])}.get("cache")
        if found is None:
            continue
        per = found["contenders"]
        stats = found.get("segment_cache_stats") or {}
        agg = found.get("aggregate_mb_per_s", {})
        nocache, cached = agg.get(ct.MC_FASTOKENS), agg.get(ct.MC_CACHE)
        rows.append(
            [
                name,
                "template" if entry["prepared"]["chat_template"] else "joined",
                f"{found['conversations']} / {found['requests']}",
                _num(per.get(ct.FASTOKENS, {}).get("median")),
                _num(per.get(ct.MC_FASTOKENS, {}).get("median")),
                _num(per.get(ct.MC_CACHE, {}).get("median")),
                _ratio_cell(found["ratios"].get(f"{ct.MC_CACHE}/{ct.MC_FASTOKENS}")),
                f"{_num(cached / nocache)}x" if cached and nocache else "-",
                "yes" if found.get("identical") else "**NO**",
                f"{stats.get('hits', '-')} / {stats.get('misses', '-')}",
            ]
        )
    if not rows:
        return []
    header = [
        "tokenizer",
        "prompt",
        "conversations / requests",
        "fastokens MB/s",
        "mc-fastokens MB/s",
        "+ cache MB/s",
        "cache speedup (per conversation)",
        "cache speedup (aggregate)",
        "identical ids",
        "hits / misses",
    ]
    title = "### Segment cache: multi-turn conversations encoded turn by turn"
    return [title, "", *_table(header, rows)]


def _load_table(results: dict[str, Any]) -> list[str]:
    summary = results.get("loads", {}).get("summary", {})
    variants = results.get("meta", {}).get("plan", {}).get("load_variants", [])
    if not summary:
        return []
    encode, stream, proc = [], [], []
    for name, entry in summary.items():
        per, ratios = entry["variants"], entry["ratios"]

        def med(variant: str, field: str, scale: float = 1.0, per: Any = per) -> str:
            value = per.get(variant, {}).get(field, {}).get("median")
            return _num(value * scale) if value is not None else "-"

        def ratio(num: str, view: str, ratios: Any = ratios) -> str:
            return _ratio_cell(ratios.get(f"{num}/fastokens:{view}"))

        encode.append(
            [
                name,
                *(med(v, "load_to_first_encode_s", 1e3) for v in variants),
                ratio("mc-fastokens", "load_to_first_encode_s"),
                ratio("mc-fastokens", "load_to_first_encode_cpu_s"),
                med("mc-fastokens", "repeat_load_s", 1e3),
                med("mc-default", "repeat_load_s", 1e3),
            ]
        )
        stream.append(
            [
                name,
                *(med(v, "load_to_first_stream_s", 1e3) for v in variants),
                ratio("mc-fastokens", "load_to_first_stream_s"),
                ratio("mc-fastokens", "load_to_first_stream_cpu_s"),
                *(ratio(v, "load_to_first_stream_s") for v in variants if "hybrid" in v),
                med("fastokens", "stream_steps_to_text"),
            ]
        )
        proc.append(
            [
                name,
                *(med(v, "process_to_first_encode_s", 1e3) for v in variants),
                ratio("mc-fastokens", "process_to_first_encode_s"),
                *(f"{med(v, 'rss_load_mib')} / {med(v, 'rss_decode_mib')}" for v in variants),
                ratio("mc-fastokens", "rss_decode_mib"),
            ]
        )
    encode_header = [
        "tokenizer",
        *(f"{v} ms" for v in variants),
        "mc-fastokens ÷ fastokens",
        "same, CPU time",
        "repeat load mc-fastokens ms",
        "repeat load mc-default ms",
    ]
    stream_header = [
        "tokenizer",
        *(f"{v} ms" for v in variants),
        "mc-fastokens ÷ fastokens",
        "same, CPU time",
        *(f"{v} ÷ fastokens" for v in variants if "hybrid" in v),
        "ids streamed until text (fastokens)",
    ]
    proc_header = [
        "tokenizer",
        *(f"{v} ms" for v in variants),
        "mc-fastokens ÷ fastokens",
        *(f"{v} RSS MiB (load / +stream, decode)" for v in variants),
        "mc-fastokens ÷ fastokens, peak RSS",
    ]
    return [
        "### Load → first encode, in-process (fresh process each; imports done)",
        "",
        *_table(encode_header, encode),
        "### Load → first streamed text, in-process",
        "",
        "Load, encode a chat prompt, then feed its ids to a new decode stream until it yields "
        "text (raw libraries: their own DecodeStream; modelcard: `decode_stream().step`). A "
        "lazy hybrid loads its HF decoder in that first stream.",
        "",
        *_table(stream_header, stream),
        "### Process-level (spawn → first encode), and peak RSS (VmHWM)",
        "",
        *_table(proc_header, proc),
    ]


def _status_table(results: dict[str, Any]) -> list[str]:
    rows = []
    for name, entry in results["tokenizers"].items():
        prep = entry.get("prepared", {})
        parity = entry.get("parity", {})
        mism = ", ".join(f"{k} {v}" for k, v in parity.items() if k != "texts" and v) or "none"
        status = {
            c: entry["contenders"].get(c, {}).get("unavailable") or "ok"
            for c in (ct.FASTOKENS, ct.TIKTOKEN)
        }
        rows.append(
            [
                name,
                status[ct.FASTOKENS],
                status[ct.TIKTOKEN],
                "yes" if prep.get("chat_template") else "no (joined)",
                f"{mism} (of {parity.get('texts', 0)})",
                str(prep.get("texts_fastokens_cannot_encode", 0)),
            ]
        )
    header = [
        "tokenizer",
        "fastokens",
        "tiktoken peer",
        "chat template",
        "ids ≠ HF on sample",
        "texts dropped",
    ]
    return ["## Tokenizers", "", *_table(header, rows)]


def _targets_section(targets: list[dict[str, Any]]) -> list[str]:
    rows = [
        [
            "PASS" if t["passed"] else "**FAIL**",
            t["target"],
            t["tokenizer"],
            _num(t["value"]) if t["value"] is not None else "-",
            _num(t.get("cpu_value")),
            t["threshold"],
            t["detail"],
        ]
        for t in targets
    ]
    passed = sum(t["passed"] for t in targets)
    header = ["result", "target", "tokenizer", "measured", "CPU-time", "threshold", "detail"]
    return [f"## Targets: {passed} of {len(targets)} pass", "", *_table(header, rows)]


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    machine = meta["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items() if v)
    lines = [
        f"# modelcard benchmark: {meta['plan']['name']} run",
        "",
        f"* {meta['started']} for {meta['duration_s']:.0f} s; command `{meta['command']}`",
        f"* {machine['cpu']}, {machine['logical_cpus']} logical CPUs "
        f"({machine['usable_cpus']} usable), {machine['memory_gib']} GiB, {machine['os']}",
        f"* Python {machine['python']}; {packages}",
        f"* load average before {meta['loadavg_start']}, after {meta['loadavg_end']} "
        "(other work on the machine shows here)",
        f"* tokenizers: `{meta['tokenizers_dir']}`"
        + "".join(f" + `{d}`" for d in meta.get("extra_tokenizers", []))
        + f"; texts: `{meta['texts_dir']}`",
        *(f"* note: {note}" for note in meta.get("corpus", {}).get("notes", [])),
        "* Ratios are medians of per-repetition ratios (same texts, contenders interleaved), "
        "with the interquartile range in brackets; absolute figures are medians over "
        "repetitions, so the ratio of two absolute figures can differ slightly.",
        "",
    ]
    if meta["plan"]["name"] != "full":
        lines += [
            f"> **{meta['plan']['name'].capitalize()} mode**: few repetitions, small slices. "
            "Indicative only; PASS/FAIL here is not a verdict.",
            "",
        ]
    lines += _targets_section(results["targets"])
    lines += _status_table(results)
    lines += ["## Throughput", ""]
    for measure in _THROUGHPUT:
        lines += _measure_table(results, measure)
        if measure == "chat":
            lines += _latency_table(results)
    lines += _measure_table(results, "decode")
    lines += _stream_table(results, "stream")
    lines += _stream_table(results, "stream-prompt")
    lines += _cache_table(results)
    lines += ["## Loads", "", *_load_table(results)]
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> str | None:
    """A PNG of throughput per tokenizer and contender; the reason when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]')"
    names = list(results["tokenizers"])
    panels = (*_THROUGHPUT, "decode")
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(max(8, 1.1 * len(names) + 3), 3.2 * len(panels))
    )
    width = 0.8 / len(ct.ORDER)
    for ax, measure in zip(axes, panels, strict=True):
        for k, contender in enumerate(ct.ORDER):
            values = []
            for name in names:
                found = {
                    m["measure"]: m for m in results["tokenizers"][name].get("measures", [])
                }.get(measure)
                entry = found["contenders"].get(contender) if found else None
                values.append(entry["median"] if entry else 0.0)
            xs = [i + (k - (len(ct.ORDER) - 1) / 2) * width for i in range(len(names))]
            ax.bar(xs, values, width, label=ct.LABELS[contender])
        ax.set_yscale("log")
        ax.set_ylabel("tokens/s (log)" if measure == "decode" else "MB/s (log)")
        ax.set_title(_TITLES[measure], fontsize=10)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, ncol=3, loc="lower left", bbox_to_anchor=(0, 1.12))
    fig.suptitle(f"modelcard benchmark ({results['meta']['plan']['name']} run)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def write_json(results: dict[str, Any], path: Path) -> None:
    text = json.dumps(results, separators=(",", ":"), default=str)
    path.write_text(text + "\n", encoding="utf-8")
