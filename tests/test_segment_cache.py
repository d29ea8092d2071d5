"""The fastokens segment cache (DYN_TOKENIZER_CACHE_BYTES) speeds chat traffic, same ids."""

from __future__ import annotations

import pytest

from modelcard import ModelCard

from .helpers import chat_messages, fixture_dir


def test_cache_is_off_by_default() -> None:
    """Without DYN_TOKENIZER_CACHE_BYTES there is no segment cache."""
    tok = ModelCard(model=fixture_dir("qwen2.5"), tokenizer="fastokens").load()
    assert tok.stats()["segment_cache"] is None


def test_turn_by_turn_chat_gives_identical_ids_and_hits() -> None:
    """Multi-turn conversations encoded turn by turn: same ids with the cache, and it hits."""
    plain = ModelCard(model=fixture_dir("qwen2.5"), tokenizer="fastokens").load()
    cached = ModelCard(
        model=fixture_dir("qwen2.5"), tokenizer="fastokens", tokenizer_cache_bytes="64MiB"
    ).load()
    requests = 0
    for conversation in chat_messages()[:12]:
        for turn in range(1, len(conversation) + 1):
            prompt = plain.apply_chat_template(conversation[:turn])
            assert cached.encode(prompt) == plain.encode(prompt)
            requests += 1
    stats = cached.stats()["segment_cache"]
    assert stats is not None
    assert stats["max_bytes"] == 64 * 2**20
    assert stats["hits"] > 0
    assert stats["hits"] + stats["misses"] >= requests


def test_env_variable_sets_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """DYN_TOKENIZER_CACHE_BYTES=1MiB enables a 1 MiB cache."""
    monkeypatch.setenv("DYN_TOKENIZER_CACHE_BYTES", "1MiB")
    tok = ModelCard(model=fixture_dir("minimal-bpe"), tokenizer="fastokens").load()
    tok.encode("Hello, world!")
    stats = tok.stats()["segment_cache"]
    assert stats is not None
    assert stats["max_bytes"] == 2**20
