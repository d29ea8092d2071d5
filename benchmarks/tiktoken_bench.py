"""Benchmark a tiktoken card: fastokens vs the tiktoken library vs HF on the same vocabulary.

    python fixtures/make_tiktoken_fixture.py \
        ../shared/tokenizers/openai-cl100k-gpt4/tokenizer.json /tmp/cl100k/cl100k_base.tiktoken
    python benchmarks/tiktoken_bench.py --tiktoken-dir /tmp/cl100k \
        --tokenizer-json ../shared/tokenizers/openai-cl100k-gpt4 --texts ../shared/texts

Contenders, each encoding every text of a workload one call at a time (``encode``,
special-token strings matched):

* ``fastokens``: ``ModelCard(model=<tiktoken dir>, tokenizer="fastokens")`` (from_tiktoken);
* ``tiktoken``: ``ModelCard(model=<tiktoken dir>, tokenizer="tiktoken")``, the reference;
* ``tiktoken-raw``: the tiktoken library's own ``Encoding.encode``, no modelcard in between;
* ``default``: ``ModelCard(model=<tokenizer.json dir>)``, HF tokenizers on the tokenizer.json
  the ranks file was written from.

Workloads: chat (the first 600 conversations of chat.jsonl, messages joined), long (every
file of long/), multilingual (the first 3000 lines of each multilingual file). Rounds are
interleaved (every contender once per round, the order rotating), each round on its own
slice of every workload, so no contender times a text twice (the id check before timing
encodes the first 200 texts of each workload once, untimed); the figure is all MB over all
seconds, and every ratio comes from this one run. Load → first encode is timed in
a fresh process per contender (imports included), the median of ``--loads`` processes.
Ids are checked equal across contenders before timing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

Encode = Callable[[str], list[int]]

_LOAD_CHILD = """
import sys, time
t0 = time.perf_counter()
import modelcard
kind, model = sys.argv[1], sys.argv[2]
if kind == "tiktoken-raw":
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe
    from modelcard.tiktoken_files import ENCODING_PATTERNS
    from pathlib import Path
    path = next(Path(model).glob("*.tiktoken"))
    enc = tiktoken.Encoding("x", pat_str=ENCODING_PATTERNS[path.stem],
                            mergeable_ranks=load_tiktoken_bpe(str(path)), special_tokens={})
    enc.encode("hello world")
else:
    card = modelcard.ModelCard(model=model, tokenizer=kind, tokenizer_fallback=False)
    card.load().encode("hello world")
print(time.perf_counter() - t0)
"""


def _workloads(texts: Path) -> dict[str, list[str]]:
    chat = []
    for line in (texts / "chat.jsonl").read_text("utf-8").split("\n")[:600]:
        record = json.loads(line)
        chat.append("\n".join(m.get("content") or "" for m in record.get("messages", [])))
    long = [p.read_text("utf-8") for p in sorted((texts / "long").iterdir()) if p.is_file()]
    multi: list[str] = []
    for path in sorted((texts / "multilingual").rglob("*")):
        if path.is_file() and path.suffix in (".txt", ".jsonl"):
            multi += path.read_text("utf-8").splitlines()[:3000]
    return {"chat": chat, "long": long, "multilingual": [t for t in multi if t]}


def _contenders(tiktoken_dir: Path, tokenizer_json: Path | None) -> dict[str, Encode]:
    import tiktoken

    import modelcard

    def card(model: Path, backend: str) -> Encode:
        tok = modelcard.ModelCard(model=str(model), tokenizer=backend, tokenizer_fallback=False)
        loaded = tok.load()
        assert loaded.backend == backend, loaded.describe()
        return loaded.encode

    reference = modelcard.ModelCard(model=str(tiktoken_dir), tokenizer="tiktoken").load()
    parts = reference.describe()["tiktoken"]
    raw = tiktoken.Encoding(
        "raw",
        pat_str=parts["pattern"],
        mergeable_ranks=reference._backend.encoding._mergeable_ranks,  # type: ignore[attr-defined]
        special_tokens=parts["special_tokens"],
    )
    found: dict[str, Encode] = {
        "fastokens": card(tiktoken_dir, "fastokens"),
        "tiktoken": reference.encode,
        "tiktoken-raw": lambda t: raw.encode(t, allowed_special="all"),
    }
    if tokenizer_json is not None:
        found["default"] = card(tokenizer_json, "huggingface")
    return found


def _time(encode: Encode, texts: list[str]) -> float:
    start = time.perf_counter()
    for text in texts:
        encode(text)
    return time.perf_counter() - start


def _load_seconds(kind: str, model: Path, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _LOAD_CHILD, kind, str(model)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tiktoken-dir", type=Path, required=True)
    parser.add_argument(
        "--tokenizer-json", type=Path, help="HF's file of the same vocabulary (else no HF)"
    )
    parser.add_argument("--texts", type=Path, default=Path("../shared/texts"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loads", type=int, default=3)
    args = parser.parse_args()

    workloads = _workloads(args.texts)
    contenders = _contenders(args.tiktoken_dir, args.tokenizer_json)
    for name, texts in workloads.items():
        for text in texts[:200]:
            ids = {who: encode(text) for who, encode in contenders.items()}
            assert len({tuple(v) for v in ids.values()}) == 1, (name, text[:80], ids)
    names = list(contenders)
    seconds: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for workload, texts in workloads.items():
            # Each round its own slice: no contender ever times a text it encoded before
            # (HF's BPE keeps a word cache per instance).
            part = texts[round_ :: args.rounds]
            for who in order:
                seconds.setdefault((workload, who), []).append(_time(contenders[who], part))

    print(f"# tiktoken card benchmark ({args.rounds} interleaved rounds, all text timed once)")
    print(
        "| workload | MB | " + " | ".join(f"{n} MB/s" for n in names) + " | fastokens / "
        "tiktoken | fastokens / default |"
    )
    print("|---|---|" + "---|" * (len(names) + 2))
    for workload, texts in workloads.items():
        mb = sum(len(t.encode()) for t in texts) / 1e6
        rate = {n: mb / sum(seconds[(workload, n)]) for n in names}
        cells = " | ".join(f"{rate[n]:.1f}" for n in names)
        over_hf = f"{rate['fastokens'] / rate['default']:.1f}x" if "default" in rate else "-"
        print(
            f"| {workload} | {mb:.2f} | {cells} | {rate['fastokens'] / rate['tiktoken']:.1f}x | "
            f"{over_hf} |"
        )
    loads = {
        "fastokens": _load_seconds("fastokens", args.tiktoken_dir, args.loads),
        "tiktoken": _load_seconds("tiktoken", args.tiktoken_dir, args.loads),
        "tiktoken-raw": _load_seconds("tiktoken-raw", args.tiktoken_dir, args.loads),
    }
    if args.tokenizer_json is not None:
        loads["default"] = _load_seconds("huggingface", args.tokenizer_json, args.loads)
    base = "default" if "default" in loads else "tiktoken"
    print(f"\n| load → first encode (fresh process, imports included) | seconds | / {base} |")
    print("|---|---|---|")
    for who, value in loads.items():
        print(f"| {who} | {value:.2f} | {value / loads[base]:.2f}x |")


if __name__ == "__main__":
    main()
