"""Falling back from fastokens to HF: loud for fastokens, quiet under auto, never silent."""

from __future__ import annotations

import sys

import pytest
import structlog

from modelcard import BackendUnavailableError, EncodeError, ModelCard

from .helpers import fixture_dir

EventList = list[structlog.typing.EventDict]


def fallback_events(logs: EventList) -> EventList:
    return [e for e in logs if e["event"] == "tokenizer_fallback"]


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("minimal-bpe-punct", "unsupported pre-tokenizer type: Punctuation"),
        ("bert-base-uncased", "fastokens implements BPE only; this is a WordPiece model"),
    ],
)
def test_fastokens_falls_back_with_one_warning(name: str, cause: str, logs: EventList) -> None:
    """A refused file logs one warning with requested, selected, reason and path, then serves HF."""
    tok = ModelCard(model=fixture_dir(name), tokenizer="fastokens").load()
    assert tok.backend == "huggingface"
    [event] = fallback_events(logs)
    assert event["log_level"] == "warning"
    assert event["requested"] == "fastokens"
    assert event["selected"] == "huggingface"
    assert cause in event["reason"]
    assert event["path"].endswith("tokenizer.json")
    assert tok.fallback_reason == event["reason"]


def test_auto_falls_back_at_info(logs: EventList) -> None:
    """Under auto a fallback is expected, so it is logged at info, not warning."""
    tok = ModelCard(model=fixture_dir("minimal-bpe-punct"), tokenizer="auto").load()
    assert tok.backend == "huggingface"
    [event] = fallback_events(logs)
    assert event["log_level"] == "info"
    assert event["requested"] == "auto"


def test_auto_uses_fastokens_when_it_can(logs: EventList) -> None:
    """auto picks fastokens for a file fastokens serves, without a fallback event."""
    tok = ModelCard(model=fixture_dir("minimal-bpe"), tokenizer="auto").load()
    assert tok.backend == "fastokens"
    assert fallback_events(logs) == []


def test_default_never_logs_a_fallback(logs: EventList) -> None:
    """The HF backend has nothing to fall back from."""
    ModelCard(model=fixture_dir("minimal-bpe-punct")).load()
    assert fallback_events(logs) == []


def test_strict_mode_raises_with_the_reason_and_the_fix(logs: EventList) -> None:
    """With fallback off, a refused file raises, saying why and how to allow fallback."""
    card = ModelCard(
        model=fixture_dir("minimal-bpe-punct"), tokenizer="fastokens", tokenizer_fallback=False
    )
    with pytest.raises(BackendUnavailableError) as info:
        card.load()
    message = str(info.value)
    assert "unsupported pre-tokenizer type: Punctuation" in message
    assert "DYN_TOKENIZER_FALLBACK=true" in message
    assert "minimal-bpe-punct" in message
    assert fallback_events(logs) == []


def test_missing_fastokens_package_falls_back(
    monkeypatch: pytest.MonkeyPatch, logs: EventList
) -> None:
    """If fastokens cannot be imported, the loader says so and serves HF."""
    monkeypatch.setitem(sys.modules, "fastokens", None)
    tok = ModelCard(model=fixture_dir("minimal-bpe"), tokenizer="fastokens").load()
    assert tok.backend == "huggingface"
    [event] = fallback_events(logs)
    assert "fastokens package is not importable" in event["reason"]
    assert tok.encode("Hello, world!") == [18, 20, 3, 1, 17, 21, 22, 2]


def test_per_call_failure_is_encoded_by_hf(logs: EventList) -> None:
    """An input fastokens cannot encode is encoded by HF, logged once, and counted."""
    fast = ModelCard(model=fixture_dir("tiny-bpe-torchtune"), tokenizer="fastokens").load()
    hf = ModelCard(model=fixture_dir("tiny-bpe-torchtune")).load()
    text = "col\tumn"
    assert fast.backend == "fastokens"
    assert fast.encode(text) == hf.encode(text)
    assert fast.encode(text) == hf.encode(text)
    assert fast.encode_fallbacks == 2
    assert fast.stats()["encode_fallbacks"] == 2
    warnings = [e for e in logs if e["event"] == "encode_fallback" and e["log_level"] == "warning"]
    assert len(warnings) == 1
    assert "byte 0x09 has no token in vocabulary" in warnings[0]["reason"]
    assert fast.encode("plain text") == hf.encode("plain text")
    assert fast.encode_fallbacks == 2


def test_per_call_failure_in_a_batch_keeps_the_rest_fast() -> None:
    """In a batch, only the inputs fastokens fails on go to HF; order and ids are kept."""
    fast = ModelCard(model=fixture_dir("tiny-bpe-torchtune"), tokenizer="fastokens").load()
    hf = ModelCard(model=fixture_dir("tiny-bpe-torchtune")).load()
    texts = ["a b", "tab\there", "c d", "two\ttabs\t"]
    assert fast.encode_batch(texts) == hf.encode_batch(texts)
    assert fast.encode_fallbacks == 2
    flat = fast.encode_batch_flat(texts)
    assert [flat.row(i).tolist() for i in range(len(texts))] == hf.encode_batch(texts)


def test_per_call_failure_in_strict_mode_raises() -> None:
    """With fallback off, an input fastokens cannot encode raises EncodeError naming the fix."""
    fast = ModelCard(
        model=fixture_dir("tiny-bpe-torchtune"), tokenizer="fastokens", tokenizer_fallback=False
    ).load()
    with pytest.raises(EncodeError, match=r"byte 0x09 .*DYN_TOKENIZER_FALLBACK=true"):
        fast.encode("col\tumn")
    assert fast.encode_fallbacks == 0
