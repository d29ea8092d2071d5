"""One tokenizer shared by many threads: no exception, and the single-threaded results.

HF ``tokenizers`` has a history of "Already borrowed" errors when threads share one
tokenizer (transformers #47085, vLLM #40949). The soak runs ``MODELCARD_SOAK_SECONDS``
(default 3) per backend; for a longer one::

    MODELCARD_SOAK_SECONDS=60 python -m pytest tests/test_concurrency.py -s
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from modelcard import ModelCard, Tokenizer, loader
from modelcard.backends.huggingface import HuggingFaceBackend

from .helpers import chat_messages, chat_texts, fixture_dir, loaded, multilingual_texts

THREADS = 8
BACKENDS = [pytest.param("default", id="hf"), pytest.param("fastokens", id="fastokens")]

Op = Callable[[Tokenizer, int], Any]


def soak_seconds() -> float:
    return float(os.environ.get("MODELCARD_SOAK_SECONDS", "3"))


def _texts() -> list[str]:
    short = [t for t in chat_texts() if len(t) <= 3000][:40]
    return short + [t[:3000] for t in multilingual_texts()[:6]] + ["", " ", "👍🏽 日本語"]


TEXTS = _texts()
BATCHES = [TEXTS[i : i + 7] for i in range(0, len(TEXTS), 7)]
CONVERSATIONS = [conv[:4] for conv in chat_messages()[:8]]


def _stream(tok: Tokenizer, i: int) -> str:
    ids = tok.encode(TEXTS[i % len(TEXTS)])
    cut = len(ids) // 3
    stream = tok.decode_stream(prompt_ids=ids[:cut])
    return "".join(c for c in (stream.step(t) for t in ids[cut:]) if c)


OPS: dict[str, tuple[Op, int]] = {
    "encode": (lambda tok, i: tok.encode(TEXTS[i], add_special_tokens=i % 2 == 1), len(TEXTS)),
    "encode_batch": (lambda tok, i: tok.encode_batch(BATCHES[i]), len(BATCHES)),
    "encode_batch_flat": (
        lambda tok, i: [x.tolist() for x in tok.encode_batch_flat(BATCHES[i])],
        len(BATCHES),
    ),
    "decode": (lambda tok, i: tok.decode(tok.encode(TEXTS[i])), len(TEXTS)),
    "decode_batch": (lambda tok, i: tok.decode_batch(tok.encode_batch(BATCHES[i])), len(BATCHES)),
    "decode_stream": (_stream, len(TEXTS)),
    "apply_chat_template": (
        lambda tok, i: tok.apply_chat_template(CONVERSATIONS[i], tokenize=True),
        len(CONVERSATIONS),
    ),
}


def single_threaded(tok: Tokenizer) -> dict[str, list[Any]]:
    return {name: [op(tok, i) for i in range(n)] for name, (op, n) in OPS.items()}


def hammer(
    tok: Tokenizer, expected: dict[str, list[Any]], seconds: float
) -> tuple[Counter[str], list[str], list[str]]:
    """Run mixed operations from THREADS threads until the deadline; count, collect failures."""
    counts: Counter[str] = Counter()
    errors: list[str] = []
    wrong: list[str] = []
    lock = threading.Lock()
    names = list(OPS)
    start = threading.Barrier(THREADS)

    def worker(thread: int) -> None:
        local: Counter[str] = Counter()
        start.wait()
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            name = names[(thread + n) % len(names)]
            op, size = OPS[name]
            i = (thread * 31 + n * 7) % size
            n += 1
            try:
                result = op(tok, i)
            except BaseException as exc:
                with lock:
                    errors.append(f"{name}[{i}]: {type(exc).__name__}: {exc}")
                continue
            local[name] += 1
            if result != expected[name][i]:
                with lock:
                    wrong.append(f"{name}[{i}]")
        with lock:
            counts.update(local)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts, errors, wrong


@pytest.mark.parametrize("backend", BACKENDS)
def test_shared_tokenizer_under_mixed_load(
    backend: str, record_property: Callable[[str, object], None]
) -> None:
    """8 threads mixing every operation on one tokenizer raise nothing and match one thread."""
    tok = loaded("qwen2.5", backend)
    expected = single_threaded(tok)
    counts, errors, wrong = hammer(tok, expected, soak_seconds())
    record_property("operations", dict(counts))
    print(f"\n{backend}: {sum(counts.values())} operations in {soak_seconds()}s: {dict(counts)}")
    assert errors == []
    assert wrong == []
    assert set(counts) == set(OPS), "every operation ran at least once"


def _counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, delay: float) -> list[int]:
    """Replace ``module.name`` with a version that records each call and takes ``delay`` longer."""
    calls: list[int] = []
    real = getattr(module, name)

    def wrapper(*args: Any) -> Any:
        calls.append(threading.get_ident())
        time.sleep(delay)  # widen the window in which a second build could start
        return real(*args)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def _load_together(cards: list[ModelCard]) -> list[Tokenizer]:
    barrier = threading.Barrier(len(cards))

    def load(card: ModelCard) -> Tokenizer:
        barrier.wait()
        return card.load()

    with ThreadPoolExecutor(len(cards)) as pool:
        return list(pool.map(load, cards))


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_loads_build_one_tokenizer(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads loading the same card at once all get one instance, built once and complete."""
    builds = _counting(monkeypatch, loader, "_build", 0.3)
    cards = [ModelCard(model=fixture_dir("gpt2"), tokenizer=backend) for _ in range(THREADS)]
    tokenizers = _load_together(cards)
    assert len(builds) == 1
    assert all(t is tokenizers[0] for t in tokenizers)
    assert tokenizers[0].encode("Hello world") == [15496, 995]
    assert tokenizers[0].decode([15496, 995]) == "Hello world"


def test_concurrent_loads_of_different_cards() -> None:
    """Threads loading two different cards at once get two tokenizers, one per card."""
    cards = [
        ModelCard(model=fixture_dir("gpt2" if i % 2 else "minimal-bpe"), tokenizer="fastokens")
        for i in range(THREADS)
    ]
    tokenizers = _load_together(cards)
    assert len({id(t) for t in tokenizers}) == 2
    for card, tok in zip(cards, tokenizers, strict=True):
        assert tok.card.model == card.model
        assert tok.encode("Hello, world!") == ModelCard(model=card.model).load().encode(
            "Hello, world!"
        )


def _decode_together(tok: Tokenizer, ids: list[int]) -> list[str]:
    """Decode ``ids`` from THREADS threads at once, by decode, decode_batch and a stream."""
    ops: list[Callable[[], str]] = [
        lambda: tok.decode(ids),
        lambda: tok.decode_batch([ids])[0],
        lambda: "".join(c for c in map(tok.decode_stream().step, ids) if c),
    ]
    barrier = threading.Barrier(THREADS)

    def run(i: int) -> str:
        barrier.wait()
        return ops[i % len(ops)]()

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def test_background_decoder_races_decode_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decodes issued while the background decoder loads wait for it; it is loaded once."""
    text = "Hello world, and 日本語 👍🏽"
    rounds = 3
    decoder_loads = _counting(monkeypatch, HuggingFaceBackend, "__init__", 0.2)
    for _ in range(rounds):
        loader.clear_cache()
        tok = ModelCard(
            model=fixture_dir("gpt2"),
            tokenizer="fastokens",
            decoder="huggingface",
            decoder_load="background",
        ).load()
        assert (tok.backend, tok.decoder) == ("fastokens", "huggingface")
        assert _decode_together(tok, tok.encode(text)) == [text] * THREADS
    assert len(decoder_loads) == rounds
