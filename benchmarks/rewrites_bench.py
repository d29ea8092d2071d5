"""The fastokens gain over ``tokenizer=default`` on files served after a rewrite, in one
interleaved run; load -> first encode against HF; and the '▁' split probe (not shipped).

    python benchmarks/rewrites_bench.py [--shared ../shared] [--rounds 3] [--chat 400]
        [--variants [NAME ...]] [--only NAME ...]

Every file of ../shared/tokenizers that fastokens serves (rewritten ones first). Per
file: chat (the first --chat ShareGPT conversations, one text each) and long
documents (../shared/texts/long), each timed as encode-all-texts with
``tokenizer="default"`` (HF) and ``tokenizer="fastokens"`` alternately, --rounds times;
the gain is the ratio of the medians. Loads are timed with a fresh card cache.
The split-probe files add a third contender: fastokens with a Split pre-tokenizer
``▁*[^▁]+|▁+`` (the speed rewrite issue 10 item 4 proposes) to see whether it gains.
``--variants`` adds the real files with one component swapped of
``benchmarks/variants.py`` (NFKC, NFKD, BertNormalizer, Metaspace 'always'), written to a
temporary folder; ``--only`` restricts the run to the files named. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from modelcard import ModelCard
from modelcard.loader import clear_cache

try:
    from variants import write_variants  # run as a script from benchmarks/
except ImportError:  # pragma: no cover - imported as benchmarks.rewrites_bench
    from benchmarks.variants import write_variants

REPO = Path(__file__).resolve().parents[1]
REWRITTEN = ["openai-cl100k-gpt4", "whisper-large-v3", "roberta-base", "mistral-7b-v0.1"]
SPLIT_PROBE = ["mixtral-8x22b", "phi-3-mini", "mistral-7b-v0.1"]
SPLIT = {
    "type": "Split",
    "pattern": {"Regex": "▁*[^▁]+|▁+"},
    "behavior": "Isolated",
    "invert": False,
}


def corpus(texts: Path, chat_count: int) -> dict[str, list[str]]:
    chat = []
    with (texts / "chat.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            chat.append("\n".join(m["content"] for m in record["messages"]))
            if len(chat) >= chat_count:
                break
    long = [p.read_text("utf-8", errors="replace") for p in sorted((texts / "long").iterdir())]
    return {"chat": chat, "long": long}


def timed(encode: Callable[[str], object], texts: list[str]) -> float:
    start = time.perf_counter()
    for text in texts:
        encode(text)
    return time.perf_counter() - start


def load_then_encode(folder: Path, tokenizer: str, text: str) -> float:
    clear_cache()
    start = time.perf_counter()
    ModelCard(model=str(folder), tokenizer=tokenizer).load().encode(text)
    return time.perf_counter() - start


def split_copy(folder: Path, tmp: Path) -> Path:
    """The file with the '▁' split as its pre-tokenizer (Metaspace files after the rewrite)."""
    from modelcard.backends.rewrites import apply_all

    raw = (folder / "tokenizer.json").read_bytes()
    done = apply_all(raw)
    data = json.loads(done[0] if done else raw)
    data["pre_tokenizer"] = SPLIT
    out = tmp / folder.name
    out.mkdir()
    (out / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chat", type=int, default=400)
    parser.add_argument("--variants", nargs="*", help="variants.py names (none given: all)")
    parser.add_argument("--only", nargs="+", help="only these files (folder or variant names)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    texts = corpus(args.shared / "texts", args.chat)
    found = {p.parent.name: p.parent for p in (args.shared / "tokenizers").glob("*/tokenizer.json")}
    variant_dir = Path(tempfile.mkdtemp(prefix="modelcard-variants-"))
    if args.variants is not None:
        written = write_variants(args.shared, variant_dir, args.variants or None)
        found.update({folder.name: folder for folder in written})
    names = [n for n in dict.fromkeys(REWRITTEN + SPLIT_PROBE + sorted(found)) if n in found]
    if args.only:
        names = [n for n in names if n in args.only]
    print("| file | rewrite | chat gain | long gain | split: chat gain | split: long gain "
          "| load+first encode fastokens / HF (ms) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            folder = found[name]
            hf = ModelCard(model=str(folder), tokenizer="default").load()
            fast_tok = ModelCard(model=str(folder), tokenizer="fastokens").load()
            if fast_tok.backend != "fastokens":
                print(f"| {name} | HF serves it: {fast_tok.fallback_reason} | | | | | |")
                continue
            contenders: dict[str, Callable[[str], object]] = {
                "default": hf.encode,
                "fastokens": fast_tok.encode,
            }
            if name in SPLIT_PROBE:
                split = ModelCard(
                    model=str(split_copy(folder, Path(tmp))), tokenizer="fastokens"
                ).load()
                contenders["split"] = split.encode
            times: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.rounds):
                for kind, sample in texts.items():
                    for label, encode in contenders.items():  # interleaved, each round
                        times.setdefault((kind, label), []).append(timed(encode, sample))
            med = {key: statistics.median(v) for key, v in times.items()}

            def gain(kind: str, label: str, med: dict[tuple[str, str], float] = med) -> str:
                if (kind, label) not in med:
                    return "-"
                return f"{med[(kind, 'default')] / med[(kind, label)]:.1f}x"

            first = texts["chat"][0]
            loads_fast = min(load_then_encode(folder, "fastokens", first) for _ in range(2))
            loads_hf = min(load_then_encode(folder, "default", first) for _ in range(2))
            rewrite = ", ".join(fast_tok.rewrites) or "(none)"
            print(
                f"| {name} | {rewrite} | {gain('chat', 'fastokens')} | {gain('long', 'fastokens')} "
                f"| {gain('chat', 'split')} | {gain('long', 'split')} "
                f"| {loads_fast * 1000:.0f} / {loads_hf * 1000:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
