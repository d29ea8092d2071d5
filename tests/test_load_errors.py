"""Broken tokenizer files give a typed error that says what to fix, never a raw library error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelcard import (
    CompanionFileError,
    EncodeError,
    ModelCard,
    ModelCardError,
    TokenizerLoadError,
)

from .helpers import FIXTURES

GOOD = (FIXTURES / "minimal-bpe" / "tokenizer.json").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        pytest.param(b"", "is empty", id="empty"),
        pytest.param(b"   \n", "is empty", id="whitespace"),
        pytest.param(GOOD[: len(GOOD) // 2].encode(), "not a valid tokenizer file", id="truncated"),
        pytest.param(b'{"hello": "world"}', "not a valid tokenizer file", id="json-not-tokenizer"),
        pytest.param(b"[1, 2, 3]", "not a valid tokenizer file", id="json-array"),
        pytest.param(b"\xff\xfe\x00garbage", "not UTF-8", id="binary"),
        pytest.param(
            json.dumps(
                {**json.loads(GOOD), "model": {"type": "BPE", "vocab": {}, "merges": ["a b"]}}
            ).encode(),
            "not a valid tokenizer file",
            id="merge-of-unknown-tokens",
        ),
    ],
)
@pytest.mark.parametrize("backend", ["default", "fastokens", "auto"])
def test_bad_tokenizer_json(tmp_path: Path, content: bytes, needle: str, backend: str) -> None:
    """Each broken file raises TokenizerLoadError, with the path, on every backend."""
    (tmp_path / "tokenizer.json").write_bytes(content)
    with pytest.raises(TokenizerLoadError) as info:
        ModelCard(model=str(tmp_path), tokenizer=backend).load()
    assert needle in str(info.value)
    assert str(tmp_path) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "name",
    ["tokenizer_config.json", "generation_config.json", "config.json", "special_tokens_map.json"],
)
def test_malformed_companion_names_the_file(tmp_path: Path, name: str) -> None:
    """A companion file that is not JSON is an error naming that file."""
    (tmp_path / "tokenizer.json").write_text(GOOD, encoding="utf-8")
    (tmp_path / name).write_text('{"eos_token_id": 2,', encoding="utf-8")
    with pytest.raises(CompanionFileError, match=rf"{name} at .* is not valid JSON"):
        ModelCard(model=str(tmp_path)).load()


def test_companion_must_be_an_object(tmp_path: Path) -> None:
    """A companion file holding a JSON list is rejected, naming the file."""
    (tmp_path / "tokenizer.json").write_text(GOOD, encoding="utf-8")
    (tmp_path / "config.json").write_text("[1]", encoding="utf-8")
    with pytest.raises(CompanionFileError, match=r"config\.json .* must hold a JSON object"):
        ModelCard(model=str(tmp_path)).load()


def test_errors_share_one_base() -> None:
    """Every modelcard error is a ModelCardError."""
    assert issubclass(TokenizerLoadError, ModelCardError)
    assert issubclass(CompanionFileError, ModelCardError)


def _variant(tmp_path: Path, **changes: object) -> str:
    data = json.loads(GOOD)
    for key, value in changes.items():
        if key.startswith("model_"):
            data["model"][key.removeprefix("model_")] = value
        else:
            data[key] = value
    (tmp_path / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    return str(tmp_path)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"model_merges": ["Hel"]}, id="merge-without-space"),
        pytest.param({"model_vocab": {"a": 2**40}}, id="id-beyond-u32"),
        pytest.param(
            {
                "pre_tokenizer": {
                    "type": "Split",
                    "pattern": {"Regex": "(("},
                    "behavior": "Isolated",
                    "invert": False,
                }
            },
            id="bad-regex",
        ),
    ],
)
@pytest.mark.parametrize("backend", ["default", "fastokens"])
def test_library_errors_are_translated(
    tmp_path: Path, changes: dict[str, object], backend: str
) -> None:
    """Files HF rejects with a bare Exception give TokenizerLoadError with HF's reason."""
    model = _variant(tmp_path, **changes)
    with pytest.raises(TokenizerLoadError, match="not a valid tokenizer file") as info:
        ModelCard(model=model, tokenizer=backend).load()
    assert type(info.value.__cause__) is Exception  # what tokenizers raises, chained


def test_rust_panic_at_encode_becomes_encode_error(tmp_path: Path) -> None:
    """A Rust panic inside HF tokenizers (a BaseException) surfaces as EncodeError."""
    template = {
        "type": "TemplateProcessing",
        "single": [
            {"SpecialToken": {"id": "<s>", "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
        ],
        "pair": [],
        "special_tokens": {},  # "<s>" is missing: HF panics "no entry found for key"
    }
    tok = ModelCard(model=_variant(tmp_path, post_processor=template)).load()
    assert tok.encode("Hello") == [18, 20]
    with pytest.raises(EncodeError, match="Rust panic: no entry found for key") as info:
        tok.encode("Hello", add_special_tokens=True)
    assert type(info.value.__cause__).__name__ == "PanicException"


def test_both_backends_failing_on_one_input(tmp_path: Path) -> None:
    """When fastokens and then HF both fail on an input, EncodeError gives both reasons."""
    model = _variant(tmp_path, model_unk_token="<nope>")
    tok = ModelCard(model=model, tokenizer="fastokens").load()
    assert tok.backend == "fastokens"
    assert tok.encode("Hello") == [18, 20]
    with pytest.raises(EncodeError) as info:
        tok.encode("Hëllo")
    assert 'unk token "<nope>" not in vocabulary' in str(info.value)
    assert "Unk token `<nope>` not found" in str(info.value)
    hf = ModelCard(model=model).load()
    with pytest.raises(EncodeError, match="Unk token `<nope>` not found"):
        hf.encode("Hëllo")


def test_failed_load_leaves_no_build_lock(tmp_path: Path) -> None:
    """A load that fails releases its per-card build lock, so the loader does not leak."""
    from modelcard import loader

    (tmp_path / "tokenizer.json").write_bytes(b"")
    for _ in range(2):
        with pytest.raises(TokenizerLoadError):
            ModelCard(model=str(tmp_path)).load()
    assert loader._build_locks == {}
