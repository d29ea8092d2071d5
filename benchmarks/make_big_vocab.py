"""Build a Gemma-size (256k-token) tokenizer.json for the benchmark, deterministically.

    python benchmarks/make_big_vocab.py [--texts DIR] [--out DIR] [--vocab-size N]

No Gemma-size tokenizer.json is available offline, so this trains one with HF
``tokenizers`` on the benchmark corpus, shaped like Gemma's published file:

* normalizer ``Replace(' ' → '▁')`` and no pre-tokenizer: the BPE model runs over the
  whole normalized text, as Gemma's does (training splits before each ``▁`` and between
  digits, so no learned token crosses a word boundary or holds two digits, as in Gemma);
* a BPE model with ``byte_fallback`` and ``<unk>``, the 256 ``<0xNN>`` byte tokens after
  the special tokens, then the learned tokens in merge order;
* decoder ``Sequence[Replace('▁' → ' '), ByteFallback, Fuse]``, ``<bos> $A`` post-processor;
* a tokenizer_config.json with a Gemma-style chat template of our own.

Training reads, in sorted path order, chat.jsonl's messages, long/, multilingual/ and
code/ (the generated adversarial strings are left out). The 8000 most frequent characters
form the alphabet; training then runs on one thread, and two runs give the same sha256.
The file goes to ``--out`` (default ``benchmarks/out/gemma-size-bpe``, git-ignored: about
20 MB). Afterwards HF and fastokens load it and must give the same ids, and the same
decoded text, on a sample of every source; the command fails otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "out" / "gemma-size-bpe"
#: Gemma's vocabulary size.
VOCAB_SIZE = 256_000
SPACE = "\u2581"
#: Characters that get a token of their own; rarer ones go through byte fallback.
ALPHABET_SIZE = 8000
SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>")
BYTES = tuple(f"<0x{b:02X}>" for b in range(256))
_SOURCES = ("chat.jsonl", "long", "multilingual", "code")
_SKIP = ("license", "copying", "copyright", "notice", "sources", "readme")
#: A Gemma-style template, written for this benchmark: a system message joins the first
#: user turn, and the model's turns are "model".
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% set ns = namespace(system='') %}"
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{% set ns.system = m['content'] + '\\n\\n' %}"
    "{% else %}"
    "{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
    "{{ '<start_of_turn>' + role + '\\n' + ns.system + m['content'] | trim + "
    "'<end_of_turn>\\n' }}"
    "{% set ns.system = '' %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)


def _files(root: Path) -> list[Path]:
    found: list[Path] = []
    for name in _SOURCES:
        path = root / name
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(
                p for p in path.rglob("*") if p.is_file() and not p.name.lower().startswith(_SKIP)
            )
    return found


def training_texts(root: Path) -> Iterator[str]:
    """Every training text, in a fixed order: chat messages, then documents line by line."""
    for path in _files(root):
        if path.suffix == ".jsonl":
            with path.open(encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        for message in json.loads(line).get("messages", []):
                            yield message["content"]
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        yield from text.splitlines(keepends=True)


def alphabet(root: Path, size: int) -> list[str]:
    """The ``size`` most frequent characters after normalization, ties broken by code point.

    Chosen here rather than by the trainer's ``limit_alphabet``, whose cut among equally
    frequent characters follows hash-map order and so changes from run to run.
    """
    counts: Counter[str] = Counter()
    for text in training_texts(root):
        counts.update(text.replace(" ", SPACE))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [char for char, _ in ranked[:size]]


def train(root: Path, vocab_size: int) -> dict[str, Any]:
    """The tokenizer.json, as a dict."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    chars = alphabet(root, ALPHABET_SIZE)
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", SPACE)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(SPACE, behavior="merged_with_next"),
            pre_tokenizers.Digits(individual_digits=True),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(BYTES),
        min_frequency=2,
        special_tokens=list(SPECIALS),
        max_token_length=24,
        # Every chosen character has the highest count, so the limit drops exactly the rest.
        initial_alphabet=chars,
        limit_alphabet=len(chars),
        show_progress=False,
    )
    tok.train_from_iterator(training_texts(root), trainer=trainer)
    data: dict[str, Any] = json.loads(tok.to_str())
    return _gemma_shape(data)


def _gemma_shape(data: dict[str, Any]) -> dict[str, Any]:
    """Byte tokens after the specials, no pre-tokenizer, Gemma's decoder and post-processor."""
    model = data["model"]
    learned = sorted(model["vocab"].items(), key=lambda item: item[1])
    order = [*SPECIALS, *BYTES]
    taken = set(order)
    order += [t for t, _ in learned if t not in taken]
    model["vocab"] = {t: i for i, t in enumerate(order)}
    ids = model["vocab"]
    data["added_tokens"] = [
        {
            "id": ids[t],
            "content": t,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for t in SPECIALS
    ]
    data["pre_tokenizer"] = None
    data["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [
            {"SpecialToken": {"id": "<bos>", "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
        ],
        "pair": [
            {"SpecialToken": {"id": "<bos>", "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
            {"SpecialToken": {"id": "<bos>", "type_id": 1}},
            {"Sequence": {"id": "B", "type_id": 1}},
        ],
        "special_tokens": {"<bos>": {"id": "<bos>", "ids": [ids["<bos>"]], "tokens": ["<bos>"]}},
    }
    data["decoder"] = {
        "type": "Sequence",
        "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
        ],
    }
    return data


def _config() -> dict[str, Any]:
    return {
        "bos_token": "<bos>",
        "eos_token": "<eos>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "add_eos_token": False,
        "model_max_length": 8192,
        "chat_template": CHAT_TEMPLATE,
    }


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def check(out: Path, root: Path, samples: int = 400) -> list[str]:
    """Where HF and fastokens disagree on the file (ids, decode); empty when they agree."""
    import fastokens
    from tokenizers import Tokenizer

    path = str(out / "tokenizer.json")
    hf, fast = Tokenizer.from_file(path), fastokens.Tokenizer.from_file(path)
    problems = []
    if hf.get_vocab_size() != fast.vocab_size:
        problems.append(f"vocab size: HF {hf.get_vocab_size()}, fastokens {fast.vocab_size}")
    texts = list(training_texts(root))
    step = max(1, len(texts) // samples)
    picked = texts[::step][:samples]
    # Text the training never saw: unseen characters go through byte fallback.
    picked += ["Grüße 👋🏽 from 東京, ∮ E⋅da = Q <start_of_turn>user\n  two  spaces\ttab"]
    picked.append("".join(picked[: samples // 4]))  # one long text
    for text in picked:
        want = hf.encode(text, add_special_tokens=False).ids
        got = fast.encode(text, add_special_tokens=False).ids
        if want != got:
            problems.append(f"ids differ on {text[:60]!r}")
            continue
        if hf.decode(want, skip_special_tokens=False) != fast.decode(
            want, skip_special_tokens=False
        ):
            problems.append(f"decode differs on {text[:60]!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=Path, default=REPO.parent / "shared" / "texts")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--vocab-size", type=int, default=VOCAB_SIZE)
    parser.add_argument("--check-only", action="store_true", help="check an existing file")
    args = parser.parse_args(argv)
    out: Path = args.out
    if not args.check_only:
        # One thread: the trainer's result must not depend on how work was split.
        os.environ["RAYON_NUM_THREADS"] = "1"
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        started = time.monotonic()
        data = train(args.texts, args.vocab_size)
        out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, ensure_ascii=False, indent=None)
        _write_atomic(out / "tokenizer.json", text)
        config = json.dumps(_config(), ensure_ascii=False, indent=2) + "\n"
        _write_atomic(out / "tokenizer_config.json", config)
        digest = hashlib.sha256(text.encode()).hexdigest()
        print(
            f"{out / 'tokenizer.json'}: {len(data['model']['vocab'])} tokens, "
            f"{len(data['model']['merges'])} merges, sha256 {digest[:16]}, "
            f"trained in {time.monotonic() - started:.0f} s"
        )
    problems = check(out, args.texts)
    if problems:
        print(f"HF and fastokens disagree ({len(problems)}):", *problems[:10], sep="\n  ")
        return 1
    print("HF and fastokens load it and agree on ids and decode of every sample")
    return 0


if __name__ == "__main__":
    sys.exit(main())
