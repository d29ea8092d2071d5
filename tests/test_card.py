"""ModelCard settings: one field gives the kwarg and the DYN_* variable, validated at once."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from modelcard import ModelCard


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("huggingface", "huggingface", id="huggingface"),
        pytest.param("default", "huggingface", id="alias-default"),
        pytest.param("hf", "huggingface", id="alias-hf"),
        pytest.param("fastokens", "fastokens", id="fastokens"),
        pytest.param("transformers", "transformers", id="transformers"),
        pytest.param("auto", "auto", id="auto"),
        pytest.param("FASTOKENS ", "fastokens", id="upper-case-and-space"),
        pytest.param("  Hf\t", "huggingface", id="mixed-case-alias"),
    ],
)
def test_allowed_backends_from_kwargs(value: str, expected: str) -> None:
    """Every allowed spelling is accepted from a keyword argument and normalised."""
    assert ModelCard(model="x/y", tokenizer=value).tokenizer == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("default", "huggingface", id="alias-default"),
        pytest.param("HuggingFace", "huggingface", id="huggingface"),
        pytest.param("hf", "huggingface", id="alias-hf"),
        pytest.param("FASTOKENS ", "fastokens", id="fastokens-upper-space"),
        pytest.param("auto", "auto", id="auto"),
    ],
)
def test_allowed_backends_from_env(env: Callable[..., None], value: str, expected: str) -> None:
    """Every allowed spelling is accepted from DYN_TOKENIZER and normalised."""
    env(DYN_MODEL="x/y", DYN_TOKENIZER=value)
    assert ModelCard().tokenizer == expected


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        pytest.param("fasttokens", "Did you mean 'fastokens'?", id="dynamo-old-spelling"),
        pytest.param("sentencepiece", "Allowed: huggingface", id="unknown"),
        pytest.param("", "is empty", id="empty"),
        pytest.param("   ", "is empty", id="blank"),
    ],
)
@pytest.mark.parametrize("via", ["kwargs", "env"])
def test_rejected_backends(env: Callable[..., None], value: str, needle: str, via: str) -> None:
    """Bad DYN_TOKENIZER values fail at construction, naming field, variable and choices."""
    kwargs = {"model": "x/y", "tokenizer": value}
    if via == "env":
        env(DYN_MODEL="x/y", DYN_TOKENIZER=value)
        kwargs = {}
    with pytest.raises(ValidationError) as info:
        ModelCard(**kwargs)
    message = str(info.value)
    assert needle in message
    assert "DYN_TOKENIZER" in message
    assert "tokenizer" in message
    if value.strip():
        assert (
            "huggingface (aliases: default, hf), fastokens, transformers, tiktoken, auto" in message
        )


def test_kwargs_beat_env_beat_defaults(env: Callable[..., None]) -> None:
    """Keyword arguments win over DYN_* variables, which win over defaults."""
    env(DYN_MODEL="env/model", DYN_TOKENIZER="fastokens")
    card = ModelCard(tokenizer="hf")
    assert card.model == "env/model"
    assert card.tokenizer == "huggingface"
    assert card.tokenizer_fallback is True
    assert card.revision is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("0", False), ("NO", False), ("on", True), (" False ", False)],
)
def test_fallback_flag_parses_booleans(
    env: Callable[..., None], value: str, expected: bool
) -> None:
    """DYN_TOKENIZER_FALLBACK accepts the usual boolean spellings."""
    env(DYN_MODEL="x/y", DYN_TOKENIZER_FALLBACK=value)
    assert ModelCard().tokenizer_fallback is expected


def test_fallback_flag_rejects_non_boolean(env: Callable[..., None]) -> None:
    """A non-boolean DYN_TOKENIZER_FALLBACK fails and says what it accepts."""
    env(DYN_MODEL="x/y", DYN_TOKENIZER_FALLBACK="maybe")
    with pytest.raises(
        ValidationError, match=r"DYN_TOKENIZER_FALLBACK: Input should be a valid boolean"
    ):
        ModelCard()


def test_missing_model_is_a_validation_error() -> None:
    """Without DYN_MODEL or model=, construction fails on the model field."""
    with pytest.raises(ValidationError, match="model"):
        ModelCard()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0), ("1048576", 1048576), ("64MiB", 64 * 2**20), ("100 MB", 10**8), ("2GiB", 2**31)],
)
def test_cache_bytes_units(env: Callable[..., None], value: str, expected: int) -> None:
    """DYN_TOKENIZER_CACHE_BYTES takes a byte count with an optional unit."""
    env(DYN_MODEL="x/y", DYN_TOKENIZER_CACHE_BYTES=value)
    assert ModelCard().tokenizer_cache_bytes == expected


def test_cache_bytes_rejects_garbage() -> None:
    """An unparseable cache size fails at construction."""
    with pytest.raises(ValidationError, match="DYN_TOKENIZER_CACHE_BYTES"):
        ModelCard(model="x/y", tokenizer_cache_bytes="lots")


def test_unknown_keyword_is_rejected() -> None:
    """A misspelt keyword argument is an error, not silently ignored."""
    with pytest.raises(ValidationError, match="tokeniser"):
        ModelCard(model="x/y", tokeniser="fastokens")  # type: ignore[call-arg]


def test_card_is_frozen_and_pickles_small() -> None:
    """A card is immutable and pickles as its settings."""
    card = ModelCard(model="x/y", tokenizer="fastokens", revision="v1")
    with pytest.raises(ValidationError):
        card.tokenizer = "default"  # type: ignore[misc]
    data = pickle.dumps(card)
    assert len(data) < 2000
    assert pickle.loads(data) == card
