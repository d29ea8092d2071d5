"""The wrapped tokenizer behaves the same on both backends, and matches HF ids on real text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from modelcard import InvalidTokenIdError, ModelCard

from .helpers import (
    FAST_TOKENIZERS,
    FIXTURES,
    REAL_TOKENIZERS,
    chat_texts,
    code_texts,
    fixture_dir,
    loaded,
    multilingual_texts,
)

BACKENDS = [pytest.param("default", id="hf"), pytest.param("fastokens", id="fastokens")]
HELLO = [18, 20, 3, 1, 17, 21, 22, 2]


load = loaded


@pytest.mark.parametrize("backend", BACKENDS)
def test_minimal_bpe_round_trip(backend: str) -> None:
    """Dynamo's round trip: 'Hello, world!' encodes to the known ids and decodes back."""
    tok = load("minimal-bpe", backend)
    ids = tok.encode("Hello, world!")
    assert ids == HELLO
    assert tok.decode(ids) == "He llo ,   w or ld !"
    assert tok.decode([18, 20]) == "He llo"


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_attribute_names_the_encoder(backend: str) -> None:
    """`backend` says which library actually encodes."""
    tok = load("minimal-bpe", backend)
    assert tok.backend == ("fastokens" if backend == "fastokens" else "huggingface")


def test_fastokens_ids_equal_hf_ids_minimal() -> None:
    """Dynamo's parity check: fastokens gives HF's ids on the minimal model."""
    texts = ["Hello, world!", "The world is a stage.", "Hi there, hello!", "Ta da.", ""]
    hf, fast = load("minimal-bpe", "default"), load("minimal-bpe", "fastokens")
    assert [fast.encode(t) for t in texts] == [hf.encode(t) for t in texts]


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_equals_single(backend: str) -> None:
    """Dynamo's batch check: encode_batch gives each text's encode ids, in order."""
    tok = load("gpt2", backend)
    texts = chat_texts()[:40]
    assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]
    assert tok.encode_batch([]) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_flat_batch_equals_batch(backend: str) -> None:
    """encode_batch_flat holds the same ids as encode_batch, as uint32 ids and uint64 offsets."""
    tok = load("qwen2.5", backend)
    texts = [*chat_texts()[:30], ""]
    flat = tok.encode_batch_flat(texts)
    assert flat.ids.dtype == np.uint32
    assert flat.offsets.dtype == np.uint64
    assert len(flat.offsets) == len(texts) + 1
    expected = tok.encode_batch(texts)
    assert [flat.row(i).tolist() for i in range(len(texts))] == expected
    assert int(flat.offsets[-1]) == sum(map(len, expected))


@pytest.mark.parametrize("name", FAST_TOKENIZERS)
@pytest.mark.parametrize("add_special_tokens", [False, True], ids=["plain", "special"])
@pytest.mark.parametrize(
    "corpus",
    [
        pytest.param(chat_texts, id="chat"),
        pytest.param(multilingual_texts, id="multilingual"),
        pytest.param(code_texts, id="code"),
    ],
)
def test_parity_on_real_text(
    name: str, add_special_tokens: bool, corpus: Callable[[], list[str]]
) -> None:
    """On real fixtures and real text, the fastokens backend returns exactly HF's ids."""
    hf, fast = load(name, "default"), load(name, "fastokens")
    assert fast.backend == "fastokens"
    for text in corpus():
        expected = hf.encode(text, add_special_tokens=add_special_tokens)
        got = fast.encode(text, add_special_tokens=add_special_tokens)
        assert got == expected, f"{name}: first difference at {_first_diff(got, expected)}"


def _first_diff(a: list[int], b: list[int]) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


@pytest.mark.parametrize("name", ["qwen2.5", "mixtral-8x22b", "phi-3-mini"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_literal_special_tokens_in_text(name: str, backend: str) -> None:
    """A special token written in the text becomes its id, on both backends."""
    tok = load(name, backend)
    hf = load(name, "default")
    eos = tok.special_tokens["eos_token"]
    text = f"Hello{eos} world {eos}{eos}"
    ids = tok.encode(text)
    assert tok.token_to_id(eos) in ids
    assert ids == hf.encode(text)


@pytest.mark.parametrize("name", REAL_TOKENIZERS)
def test_defaults_are_identical_on_both_backends(name: str) -> None:
    """Defaults do not leak either library's own: no special tokens added, none skipped."""
    hf = ModelCard(model=fixture_dir(name), tokenizer="default").load()
    fast = ModelCard(model=fixture_dir(name), tokenizer="fastokens").load()
    text = "Hello world"
    assert hf.encode(text) == fast.encode(text) == hf.encode(text, add_special_tokens=False)
    with_specials = hf.encode(text, add_special_tokens=True)
    assert fast.encode(text, add_special_tokens=True) == with_specials
    assert hf.decode(with_specials) == fast.decode(with_specials)
    assert hf.decode(with_specials) == hf.decode(with_specials, skip_special_tokens=False)


def test_add_special_tokens_applies_the_post_processor() -> None:
    """add_special_tokens=True prepends Mixtral's BOS on both backends."""
    for backend in ("default", "fastokens"):
        tok = load("mixtral-8x22b", backend)
        assert tok.encode("Hi", add_special_tokens=True)[0] == tok.token_to_id("<s>")
        assert tok.token_to_id("<s>") not in tok.encode("Hi")


def test_skip_special_tokens() -> None:
    """skip_special_tokens drops special tokens from the text only when asked."""
    tok = load("qwen2.5", "fastokens")
    ids = tok.encode("<|im_start|>user\nhi<|im_end|>")
    assert tok.decode(ids) == "<|im_start|>user\nhi<|im_end|>"
    assert tok.decode(ids, skip_special_tokens=True) == "user\nhi"


@pytest.mark.parametrize("backend", BACKENDS)
def test_vocabulary_lookups(backend: str) -> None:
    """vocab_size, token_to_id and id_to_token agree with HF, including added tokens."""
    tok = load("qwen2.5", backend)
    assert tok.vocab_size == 151665
    assert tok.token_to_id("<|im_end|>") == 151645
    assert tok.id_to_token(151645) == "<|im_end|>"
    assert tok.token_to_id("definitely-not-a-token-xyz") is None
    assert tok.id_to_token(tok.vocab_size) is None
    assert tok.id_to_token(-1) is None


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("ids", "needle"),
    [
        pytest.param([5, -1], "Token id -1 at position 1 is negative", id="negative"),
        pytest.param([5, 1.5], "position 1 is 1.5 (float)", id="float"),
        pytest.param([5, "6"], "position 1 is '6' (str)", id="str"),
        pytest.param([5, None], "position 1 is None", id="none"),
        pytest.param([2**40], "larger than any token id", id="beyond-u32"),
    ],
)
def test_invalid_ids_raise_the_same_error(backend: str, ids: list[object], needle: str) -> None:
    """Negative, non-int and >32-bit ids raise InvalidTokenIdError naming the id, on both."""
    tok = load("minimal-bpe", backend)
    with pytest.raises(InvalidTokenIdError) as info:
        tok.decode(ids)  # type: ignore[arg-type]
    assert needle in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidTokenIdError, match="In sequence 1: ") as batch_info:
        tok.decode_batch([[5], ids])  # type: ignore[list-item]
    assert needle in str(batch_info.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ids_past_the_vocabulary_add_no_text(backend: str) -> None:
    """An id at or past vocab_size (a padded embedding row) decodes to nothing, on both backends."""
    tok = load("qwen2.5", backend)
    ids = tok.encode("Hello world")
    padded = [ids[0], tok.vocab_size, 151935, *ids[1:]]  # Qwen2.5's model has 151936 rows
    assert tok.decode(padded) == "Hello world"
    assert tok.id_to_token(tok.vocab_size) is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_decode_accepts_numpy_ids(backend: str) -> None:
    """decode takes numpy arrays of ids, such as a row of encode_batch_flat."""
    tok = load("minimal-bpe", backend)
    flat = tok.encode_batch_flat(["Hello, world!"])
    assert tok.decode(flat.row(0)) == tok.decode(HELLO)


@pytest.mark.parametrize("backend", BACKENDS)
def test_encode_rejects_non_strings(backend: str) -> None:
    """encode of a non-string raises TypeError, not a library error."""
    tok = load("minimal-bpe", backend)
    with pytest.raises(TypeError):
        tok.encode(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tok.encode_batch(["ok", 3])  # type: ignore[list-item]


def test_repeat_load_returns_the_cached_tokenizer() -> None:
    """Loading the same card twice returns the same instance."""
    card = ModelCard(model=fixture_dir("gpt2"), tokenizer="fastokens")
    assert card.load() is card.load()


def test_cache_notices_changed_files(tmp_path: Path) -> None:
    """A file rewritten between loads is loaded afresh."""
    target = tmp_path / "tokenizer.json"
    target.write_bytes((FIXTURES / "minimal-bpe" / "tokenizer.json").read_bytes())
    first = ModelCard(model=str(tmp_path)).load()
    target.write_bytes((FIXTURES / "minimal-bpe-punct" / "tokenizer.json").read_bytes())
    second = ModelCard(model=str(tmp_path)).load()
    assert first is not second
    assert first.fingerprint != second.fingerprint


def test_id_to_token_past_a_vocabulary_with_gaps(tmp_path: Path) -> None:
    """Ids above vocab_size still name their tokens when the vocabulary has gaps.

    vocab_size counts tokens (as HF tokenizers and transformers do); a vocabulary with a
    gap has ids above that count, as cl100k's special tokens are.
    """
    import json

    document = json.loads((FIXTURES / "gpt2" / "tokenizer.json").read_text("utf-8"))
    document["model"]["vocab"]["<|gap|>"] = 50300  # ids 50257-50299 are unused
    (tmp_path / "tokenizer.json").write_text(json.dumps(document), "utf-8")
    tok = ModelCard(model=str(tmp_path)).load()
    assert tok.vocab_size == 50258  # tokens, not the largest id + 1
    assert tok.id_to_token(50300) == "<|gap|>"
    assert tok.id_to_token(50299) is None
    assert tok.decode([64, 50300]) == "a<|gap|>"
