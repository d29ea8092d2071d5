"""In-process measures for one tokenizer: slice the texts, warm up, time interleaved.

Every timed text is fresh for every timed instance: warm-up, parity checks and the
ids that decode measures need all come from other slices of the corpus.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Any

from . import contenders as ct
from .corpus import (
    Conversation,
    Corpus,
    Doc,
    chunks,
    group_by_bytes,
    join_messages,
    last_user_prefix,
    responses,
    split,
    turn_requests,
)
from .plan import Plan
from .timing import Sample, interleaved, per_rep_ratios, quantile, spread

#: (numerator, denominator) pairs reported as ratios whenever both ran.
RATIO_PAIRS = (
    (ct.MC_FASTOKENS, ct.FASTOKENS),
    (ct.MC_FASTOKENS, ct.MC_DEFAULT),
    (ct.MC_FASTOKENS, ct.MC_HYBRID),
    (ct.MC_HYBRID, ct.HF),
    (ct.MC_DEFAULT, ct.HF),
    (ct.MC_FASTOKENS, ct.HF),
    (ct.FASTOKENS, ct.HF),
    (ct.TIKTOKEN, ct.HF),
    (ct.MC_FASTOKENS, ct.TIKTOKEN),
    (ct.MC_CACHE, ct.MC_FASTOKENS),
)
#: The metric each measure is judged by; stream is a cost (lower is better).
METRICS = {
    "chat": ("mb_per_s", "MB/s"),
    "long": ("mb_per_s", "MB/s"),
    "multilingual": ("mb_per_s", "MB/s"),
    "code": ("mb_per_s", "MB/s"),
    "batch": ("mb_per_s", "MB/s"),
    "flat": ("mb_per_s", "MB/s"),
    "decode": ("tokens_per_s", "tokens/s"),
    "stream": ("ns_per_token", "ns/token"),
    "stream-prompt": ("ns_per_token", "ns/token"),
    "cache": ("mb_per_s", "MB/s"),
}


# -- tokenizer-independent slices -------------------------------------------------------


@dataclass
class Slices:
    """Disjoint parts of the corpus, one per workload (conversations stay unrendered)."""

    conversations: dict[str, list[Conversation]]
    long_warm: list[Doc]
    long: list[Doc]
    multi_warm: list[Doc]
    multi: list[list[Doc]]
    code_warm: list[Doc]
    code: list[list[Doc]]
    sentences_warm: list[str]
    flat: list[list[str]]


def make_slices(corpus: Corpus, plan: Plan) -> Slices:
    usable = [c for c in corpus.conversations if last_user_prefix(c)]
    convs = split(usable, plan.conversation_slices())
    multi_turn = [c for c in convs["cache"] if len(turn_requests(c)) >= 2]
    convs["cache"] = multi_turn[: plan.cache_conversations]
    docs = corpus.long_docs
    long_warm, long = (docs[-1:], docs[:-1]) if len(docs) > 1 else (docs, docs)
    n_multi_warm = max(2, plan.multi_per_rep)
    multi = corpus.multilingual
    code = corpus.code
    n_code_warm = min(5, max(1, len(code) // 4))
    sentences_warm, sentences = corpus.sentences(plan.warmup_sentences)
    flat_pool = sentences[: plan.flat_reps * plan.flat_size]
    return Slices(
        conversations=convs,
        long_warm=long_warm,
        long=long[: plan.long_reps],
        multi_warm=multi[:n_multi_warm],
        multi=chunks(multi[n_multi_warm:], plan.multi_reps)
        if len(multi) > n_multi_warm
        else [multi],
        code_warm=code[:n_code_warm],
        code=group_by_bytes(code[n_code_warm:], plan.code_bytes, plan.code_reps),
        sentences_warm=sentences_warm,
        flat=chunks(flat_pool, plan.flat_reps),
    )


# -- per-tokenizer texts ------------------------------------------------------------------


@dataclass
class Prepared:
    """One tokenizer's rendered prompts, filtered texts and reference ids."""

    template: bool
    template_failures: int = 0
    dropped: int = 0
    warm: list[str] = field(default_factory=list)
    warm_sentences: list[str] = field(default_factory=list)
    encode_sets: dict[str, list[list[str]]] = field(default_factory=dict)
    decode: list[list[list[int]]] = field(default_factory=list)
    stream: list[list[tuple[list[int], list[int]]]] = field(default_factory=list)
    cache: list[list[str]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "chat_template": self.template,
            "template_failures": self.template_failures,
            "texts_fastokens_cannot_encode": self.dropped,
            "reps": {k: len(v) for k, v in self.encode_sets.items()}
            | {"decode": len(self.decode), "stream": len(self.stream), "cache": len(self.cache)},
        }


class _Renderer:
    """Chat prompts with the tokenizer's template (via modelcard), else joined messages."""

    def __init__(self, mc_default: Any) -> None:
        self.tok = mc_default
        self.template = mc_default is not None and mc_default.chat_template is not None
        self.failures = 0

    def __call__(self, messages: Conversation) -> str | None:
        if not self.template:
            return join_messages(messages)
        from modelcard import ChatTemplateError

        try:
            return str(self.tok.apply_chat_template(messages))
        except ChatTemplateError:
            self.failures += 1
            return None

    def requests(self, conversations: Sequence[Conversation]) -> list[str]:
        rendered = (self(last_user_prefix(c) or []) for c in conversations)
        return [p for p in rendered if p]


def prepare(
    slices: Slices,
    found: dict[str, ct.Contender],
    checker: Any | None,
    plan: Plan,
) -> Prepared:
    """Render, filter and encode reference ids for one tokenizer.

    ``checker`` is an untimed fastokens instance: texts it cannot encode are dropped for
    every contender.
    """
    render = _Renderer(found[ct.MC_DEFAULT].obj)
    hf = found[ct.HF].obj
    prep = Prepared(template=render.template)

    def keep(texts: list[str]) -> list[str]:
        if checker is None:
            return texts
        good = []
        for text in texts:
            try:
                checker.encode(text)
            except Exception:
                prep.dropped += 1
                continue
            good.append(text)
        return good

    def nonempty(groups: list[list[str]]) -> list[list[str]]:
        return [g for g in (keep(g) for g in groups) if g]

    convs = slices.conversations
    prep.warm = keep(
        render.requests(convs["warmup"])
        + [d.text for d in slices.multi_warm + slices.code_warm + slices.long_warm]
    )
    prep.warm_sentences = keep(slices.sentences_warm)
    prep.encode_sets = {
        "chat": nonempty(chunks(render.requests(convs["chat"]), plan.chat_reps)),
        "long": nonempty([[d.text] for d in slices.long]),
        "multilingual": nonempty([[d.text for d in g] for g in slices.multi]),
        "code": nonempty([[d.text for d in g] for g in slices.code]),
        "batch": nonempty(chunks(render.requests(convs["batch"]), plan.batch_reps)),
        "flat": nonempty(slices.flat),
    }
    prep.cache = [
        t for t in (keep([render(r) or "" for r in turn_requests(c)]) for c in convs["cache"]) if t
    ]
    prep.template_failures = render.failures

    def ids(text: str) -> list[int]:
        return list(hf.encode(text, add_special_tokens=False).ids)

    wanted = plan.decode_reps * plan.decode_per_rep
    answers = [a for c in convs["decode"] for a in responses(c)][:wanted]
    prep.decode = chunks([i for i in map(ids, answers) if i], plan.decode_reps)
    pairs = []
    wanted = plan.stream_reps * plan.stream_per_rep
    for conv in convs["stream"]:
        for i in range(1, len(conv)):
            if len(pairs) == wanted:
                break
            if conv[i]["role"] == "assistant" and conv[i - 1]["role"] == "user":
                answer = ids(conv[i]["content"])
                request = render(conv[:i])
                if answer and request:
                    pairs.append((ids(request), answer))
    prep.stream = chunks(pairs, plan.stream_reps)
    return prep


# -- parity -------------------------------------------------------------------------------


def parity(found: dict[str, ct.Contender], texts: list[str]) -> dict[str, Any]:
    """How many sample texts each contender encodes differently from raw HF."""
    hf = found[ct.HF]
    reference = [ct.ids_of(hf, t) for t in texts]
    out: dict[str, Any] = {"texts": len(texts)}
    for name, c in found.items():
        if name == ct.HF or name in ct.DECODE_ONLY or not c.ok:
            continue
        mismatches = 0
        for text, ref in zip(texts, reference, strict=True):
            try:
                same = ct.ids_of(c, text) == ref
            except Exception:
                same = False
            mismatches += not same
        out[name] = mismatches
    return out


# -- warm-up ------------------------------------------------------------------------------


def warm_up(found: dict[str, ct.Contender], prep: Prepared) -> None:
    """Run every operation once on warm-up texts (loads lazy decoders, fills word caches)."""
    # Ids of warm-up prompts, not of the responses that decode and stream measures time.
    sample_ids = [ct.ids_of(found[ct.HF], t)[:2000] for t in prep.warm[:3]]
    for name, c in found.items():
        if not c.ok:
            continue
        if name not in ct.DECODE_ONLY:
            ct.encode_each(c, prep.warm)
            ct.encode_each(c, prep.warm_sentences)  # sentences in every language of the corpus
            if (batch := ct.batch_fn(c)) is not None:
                batch(prep.warm[:16])
            if (flat := ct.flat_fn(c)) is not None:
                flat(prep.warm_sentences)
        decode = ct.decode_fn(c)
        for ids in sample_ids:
            decode(ids)
        if (stream := ct.stream_fn(c)) is not None:
            for ids in sample_ids:
                stream(ids[:32], ids[32:])


# -- measures -----------------------------------------------------------------------------


def _nbytes(texts: list[str]) -> int:
    return sum(len(t.encode()) for t in texts)


def _summarize(
    measure: str, samples: dict[str, list[Sample]], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    metric, unit = METRICS[measure]
    per: dict[str, Any] = {}
    for name, runs in samples.items():
        values = [getattr(s, metric) for s in runs]
        entry: dict[str, Any] = {
            **spread(values),
            "tokens_per_s": spread([s.tokens_per_s for s in runs])["median"],
            "mb_per_s": spread([s.mb_per_s for s in runs])["median"],
            "total_ns": sum(s.ns for s in runs),
            "total_cpu_ns": sum(s.cpu_ns for s in runs),
            "total_bytes": sum(s.nbytes for s in runs),
            "total_tokens": sum(s.ntokens for s in runs),
            "reps": [
                {"ns": s.ns, "cpu_ns": s.cpu_ns, "bytes": s.nbytes, "tokens": s.ntokens, **s.extra}
                for s in runs
            ],
        }
        latencies = [x for s in runs for x in s.latencies_ns]
        if latencies:
            entry["latency_us"] = {
                "p50": quantile(latencies, 0.5) / 1e3,
                "p99": quantile(latencies, 0.99) / 1e3,
                "n": len(latencies),
            }
        per[name] = entry
    lower = metric == "ns_per_token"
    pairs = [(a, b) for a, b in RATIO_PAIRS if a in samples and b in samples]
    ratios = {f"{a}/{b}": spread(per_rep_ratios(samples[a], samples[b], lower)) for a, b in pairs}
    cpu_ratios = {
        f"{a}/{b}": spread(per_rep_ratios(samples[a], samples[b], lower, "cpu_ns"))
        for a, b in pairs
    }
    return {
        "measure": measure,
        "metric": metric,
        "unit": unit,
        "contenders": per,
        "ratios": ratios,
        "cpu_ratios": cpu_ratios,
        **(extra or {}),
    }


def _encode_measure(
    measure: str, found: dict[str, ct.Contender], groups: list[list[str]]
) -> dict[str, Any]:
    sizes = [_nbytes(g) for g in groups]
    keep_latency = measure == "chat"

    def run(name: str, rep: int) -> Sample:
        times, tokens = ct.encode_each(found[name], groups[rep])
        return Sample(sum(times), sizes[rep], tokens, times if keep_latency else [])

    return _summarize(measure, interleaved(list(found), len(groups), run))


def _call_measure(
    measure: str,
    fns: dict[str, Callable[[list[str]], Any]],
    groups: list[list[str]],
    count: Callable[[Any], int],
) -> dict[str, Any]:
    sizes = [_nbytes(g) for g in groups]

    def run(name: str, rep: int) -> Sample:
        fn, texts = fns[name], groups[rep]
        t0 = perf_counter_ns()
        out = fn(texts)
        ns = perf_counter_ns() - t0
        return Sample(ns, sizes[rep], count(out))

    return _summarize(measure, interleaved(list(fns), len(groups), run))


def _decode_measure(
    found: dict[str, ct.Contender], groups: list[list[list[int]]]
) -> dict[str, Any]:
    fns = {name: ct.decode_fn(c) for name, c in found.items()}

    def run(name: str, rep: int) -> Sample:
        decode, clock, total, nbytes = fns[name], perf_counter_ns, 0, 0
        for ids in groups[rep]:
            t0 = clock()
            text = decode(ids)
            total += clock() - t0
            nbytes += len(text)
        return Sample(total, nbytes, sum(len(ids) for ids in groups[rep]))

    samples = interleaved(list(fns), len(groups), run)
    reference = [ct.text_of(found[ct.HF], ids) for ids in groups[0]]
    agree = {
        n: [ct.text_of(found[n], ids) for ids in groups[0]] == reference for n in fns if n != ct.HF
    }
    return _summarize("decode", samples, {"text_matches_raw_hf": agree})


def _stream_measure(
    measure: str,
    found: dict[str, ct.Contender],
    groups: list[list[tuple[list[int], list[int]]]],
    context: int | None,
) -> dict[str, Any]:
    """Stream each response after its request: the request's last ``context`` ids, or all."""
    fns = {n: f for n, c in found.items() if (f := ct.stream_fn(c)) is not None}

    def cut(prompt: list[int]) -> list[int]:
        return prompt[-context:] if context else prompt

    def run(name: str, rep: int) -> Sample:
        setup = steps = tokens = 0
        for prompt, ids in groups[rep]:
            s, t = fns[name](cut(prompt), ids)
            setup, steps, tokens = setup + s, steps + t, tokens + len(ids)
        return Sample(steps, 0, tokens, extra={"setup_ns": setup, "streams": len(groups[rep])})

    samples = interleaved(list(fns), len(groups), run)
    checked = groups[0]
    reference = [ct.stream_text(found[ct.HF], cut(p), ids) for p, ids in checked]
    agree = {
        n: [ct.stream_text(found[n], cut(p), ids) for p, ids in checked] == reference
        for n in fns
        if n != ct.HF
    }
    setup = {
        n: spread([s.extra["setup_ns"] / s.extra["streams"] / 1e3 for s in runs])["median"]
        for n, runs in samples.items()
    }
    prompt_tokens = [len(cut(p)) for g in groups for p, _ in g]
    extra = {
        "text_matches_raw_hf": agree,
        "setup_us_per_stream": setup,
        "prompt_tokens_median": spread(prompt_tokens)["median"],
    }
    return _summarize(measure, samples, extra)


def _encode_keep(c: ct.Contender, texts: list[str]) -> tuple[list[int], list[list[int]]]:
    times: list[int] = []
    outs: list[list[int]] = []
    clock = perf_counter_ns
    if c.kind == "modelcard":
        encode = c.obj.encode
        for text in texts:
            t0 = clock()
            ids = encode(text)
            times.append(clock() - t0)
            outs.append(ids)
    else:
        encode = c.obj.encode
        for text in texts:
            t0 = clock()
            ids = encode(text, add_special_tokens=False).ids
            times.append(clock() - t0)
            outs.append(ids)
    return times, outs


def _cache_measure(
    found: dict[str, ct.Contender], cached: ct.Contender, conversations: list[list[str]]
) -> dict[str, Any]:
    pool = {n: found[n] for n in (ct.FASTOKENS, ct.MC_FASTOKENS) if found[n].ok}
    pool[ct.MC_CACHE] = cached
    outputs: dict[str, list[list[list[int]]]] = {n: [] for n in pool}
    sizes = [_nbytes(turns) for turns in conversations]

    def run(name: str, rep: int) -> Sample:
        times, ids = _encode_keep(pool[name], conversations[rep])
        outputs[name].append(ids)
        return Sample(sum(times), sizes[rep], sum(len(i) for i in ids))

    samples = interleaved(list(pool), len(conversations), run)
    reference = outputs[ct.MC_FASTOKENS if ct.MC_FASTOKENS in outputs else ct.FASTOKENS]
    identical = all(outputs[ct.MC_CACHE][i] == reference[i] for i in range(len(reference)))
    total = {
        n: sum(s.nbytes for s in runs) * 1e3 / max(1, sum(s.ns for s in runs))
        for n, runs in samples.items()
    }
    extra = {
        "identical": identical,
        "conversations": len(conversations),
        "requests": sum(len(t) for t in conversations),
        "aggregate_mb_per_s": total,
        "segment_cache_stats": cached.obj.stats().get("segment_cache"),
    }
    return _summarize("cache", samples, extra)


def run_all(
    found: dict[str, ct.Contender],
    prep: Prepared,
    cached: ct.Contender | None,
    progress: Callable[[str], None],
    context: int,
) -> list[dict[str, Any]]:
    """Every in-process measure for one tokenizer, in a fixed order."""
    everyone = {n: found[n] for n in ct.ORDER if n in found and found[n].ok}
    live = {n: c for n, c in everyone.items() if n not in ct.DECODE_ONLY}
    results = []
    for measure in ("chat", "long", "multilingual", "code"):
        if groups := prep.encode_sets.get(measure):
            progress(measure)
            results.append(_encode_measure(measure, live, groups))
    if groups := prep.encode_sets.get("batch"):
        progress("batch")
        fns = {n: f for n, c in live.items() if (f := ct.batch_fn(c)) is not None}
        results.append(_call_measure("batch", fns, groups, lambda out: sum(map(len, out))))
    if groups := prep.encode_sets.get("flat"):
        progress("flat")
        fns = {n: f for n, c in live.items() if (f := ct.flat_fn(c)) is not None}
        results.append(_call_measure("flat", fns, groups, lambda out: len(out[0])))
    if prep.decode:
        progress("decode")
        results.append(_decode_measure(everyone, prep.decode))
    if prep.stream:
        progress("stream")
        results.append(_stream_measure("stream", everyone, prep.stream, context))
        progress("stream-prompt")
        results.append(_stream_measure("stream-prompt", everyone, prep.stream, None))
    if cached is not None and cached.ok and prep.cache:
        progress("cache")
        results.append(_cache_measure(found, cached, prep.cache))
    return results
