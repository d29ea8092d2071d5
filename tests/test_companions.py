"""The card's companion files: EOS ids, special tokens, context length, fingerprint, limits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import structlog

from modelcard import FingerprintMismatchError, ModelCard

from .helpers import FIXTURES, fixture_dir, loaded

MINIMAL_JSON = FIXTURES / "minimal-bpe" / "tokenizer.json"


def test_eos_union_qwen() -> None:
    """Qwen2.5's EOS ids are the union of generation_config, config and the tokenizer's eos."""
    tok = loaded("qwen2.5", "fastokens")
    assert tok.eos_token_ids == (151645, 151643)
    assert tok.bos_token_id is None  # as in transformers: the tokenizer names no bos_token
    assert tok.config.bos_token_id == 151643  # generation_config.json does
    assert tok.pad_token_id == 151643  # the tokenizer's pad_token <|endoftext|>
    assert tok.context_length == 32768  # config.json wins over model_max_length 131072
    assert tok.config.context_length_source == "config.json max_position_embeddings"


def test_eos_union_from_all_three_sources(tmp_path: Path) -> None:
    """Ids from generation_config, config.json and tokenizer_config all land in eos_token_ids."""
    shutil.copytree(FIXTURES / "minimal-bpe-chat", tmp_path, dirs_exist_ok=True)
    (tmp_path / "generation_config.json").write_text('{"eos_token_id": [25]}')
    (tmp_path / "config.json").write_text('{"eos_token_id": 4}')
    tok = ModelCard(model=str(tmp_path)).load()
    assert tok.eos_token_ids == (25, 4, 24)  # generation, config, then tokenizer's </s>


def test_added_token_dicts_and_flags() -> None:
    """Special tokens given as AddedToken dicts are read, with add_bos/add_eos flags."""
    tok = loaded("minimal-bpe-chat", "default")
    assert tok.special_tokens == {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    assert tok.eos_token_ids == (24, 25)
    assert tok.bos_token_id == 23
    assert tok.config.add_bos_token is True
    assert tok.config.add_eos_token is False
    assert tok.context_length is None  # model_max_length is transformers' 1e30 "unset"


def test_nested_text_config_and_infinity() -> None:
    """A multimodal config.json with text_config and Infinity/NaN values is read."""
    tok = loaded("minimal-bpe-vlm", "fastokens")
    assert tok.context_length == 4096
    assert tok.config.context_length_source == "config.json text_config max_position_embeddings"
    assert tok.eos_token_ids == (24, 25)  # config 24, text_config 25, tokenizer </s> = 24
    assert tok.pad_token_id == 25


def test_model_max_length_when_no_config() -> None:
    """Without config.json, a real model_max_length is the context length."""
    tok = loaded("phi-3-mini", "fastokens")
    assert tok.context_length == 4096
    assert tok.config.context_length_source == "tokenizer_config.json model_max_length"
    assert loaded("mixtral-8x22b", "fastokens").context_length is None


def test_special_tokens_map_fills_gaps(tmp_path: Path) -> None:
    """special_tokens_map.json supplies tokens tokenizer_config.json does not name."""
    shutil.copy(FIXTURES / "minimal-bpe-chat" / "tokenizer.json", tmp_path)
    (tmp_path / "tokenizer_config.json").write_text('{"eos_token": "</s>"}')
    (tmp_path / "special_tokens_map.json").write_text(
        json.dumps({"eos_token": "<s>", "pad_token": {"content": "<|eot|>"}})
    )
    tok = ModelCard(model=str(tmp_path)).load()
    assert tok.special_tokens == {"eos_token": "</s>", "pad_token": "<|eot|>"}
    assert tok.pad_token_id == 25


def test_truncation_and_padding_are_disabled_loudly(tmp_path: Path) -> None:
    """Truncation or padding in tokenizer.json is turned off, with a warning, on both backends."""
    data = json.loads(MINIMAL_JSON.read_text())
    data["truncation"] = {
        "direction": "Right",
        "max_length": 3,
        "strategy": "LongestFirst",
        "stride": 0,
    }
    data["padding"] = {
        "strategy": {"Fixed": 16},
        "direction": "Right",
        "pad_to_multiple_of": None,
        "pad_id": 0,
        "pad_type_id": 0,
        "pad_token": "<unk>",
    }
    (tmp_path / "tokenizer.json").write_text(json.dumps(data))
    for backend in ("default", "fastokens"):
        with structlog.testing.capture_logs() as logs:
            tok = ModelCard(model=str(tmp_path), tokenizer=backend).load()
        [event] = [e for e in logs if e["event"] == "tokenizer_limits_disabled"]
        assert event["log_level"] == "warning"
        assert event["truncation"]["max_length"] == 3
        assert "padding" in event
        assert tok.encode("Hello, world!") == [18, 20, 3, 1, 17, 21, 22, 2]
        assert tok.encode_batch(["Hello"]) == [[18, 20]]
        assert tok.decode(tok.encode("Hello, world!")) == "He llo ,   w or ld !"


def test_fingerprint_depends_on_contents_not_location(tmp_path: Path) -> None:
    """Two copies of a card have one fingerprint; changing any file changes it."""
    copy = tmp_path / "copy"
    shutil.copytree(FIXTURES / "minimal-bpe-chat", copy)
    original = loaded("minimal-bpe-chat", "default").fingerprint
    assert ModelCard(model=str(copy)).load().fingerprint == original
    (copy / "generation_config.json").write_text('{"eos_token_id": 24}')
    assert ModelCard(model=str(copy)).load().fingerprint != original


def test_fingerprint_pin(tmp_path: Path) -> None:
    """DYN_FINGERPRINT makes load() fail when the files differ, naming both fingerprints."""
    shutil.copytree(FIXTURES / "minimal-bpe", tmp_path, dirs_exist_ok=True)
    good = ModelCard(model=str(tmp_path)).load().fingerprint
    assert ModelCard(model=str(tmp_path), fingerprint=good).load().fingerprint == good
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FingerprintMismatchError, match=good):
        ModelCard(model=str(tmp_path), fingerprint=good).load()


def test_describe_lists_the_card() -> None:
    """describe() (inspect --json) carries files, backend and the card's metadata."""
    info = loaded("qwen2.5", "fastokens").describe()
    assert set(info["files"]) == {
        "tokenizer.json",
        "tokenizer_config.json",
        "config.json",
        "generation_config.json",
    }
    assert info["eos_token_ids"] == [151645, 151643]
    assert info["context_length"] == 32768
    assert info["chat_templates"] == ["default"]
    assert info["special_tokens"]["eos_token"] == "<|im_end|>"
    json.dumps(info)


def test_hub_card_equals_local_card(fake_hub: object) -> None:
    """The same files through the loopback hub give the same card as from disk."""
    hub = fake_hub
    commit = hub.add_dir("org/vlm", FIXTURES / "minimal-bpe-vlm")  # type: ignore[attr-defined]
    remote = ModelCard(model="org/vlm", revision=commit).load()
    local = ModelCard(model=fixture_dir("minimal-bpe-vlm")).load()
    assert remote.fingerprint == local.fingerprint
    assert remote.config == local.config
    assert remote.source.commit == commit
    messages = [{"role": "user", "content": "Hello"}]
    assert remote.apply_chat_template(messages) == local.apply_chat_template(messages)


def _card_with(tmp_path: Path, **files: object) -> Path:
    shutil.copytree(FIXTURES / "gpt2", tmp_path, dirs_exist_ok=True)
    for name, content in files.items():
        (tmp_path / name.replace("__", ".")).write_text(json.dumps(content), "utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("files", "key", "value"),
    [
        pytest.param(
            {"config__json": {"max_position_embeddings": "lots"}},
            "max_position_embeddings",
            '"lots"',
            id="context-length-text",
        ),
        pytest.param(
            {"config__json": {"eos_token_id": 99999999}},
            "eos_token_id",
            "99999999",
            id="eos-past-vocab",
        ),
        pytest.param(
            {"generation_config__json": {"eos_token_id": [50256, -3, True]}},
            "eos_token_id",
            "-3",
            id="eos-negative",
        ),
        pytest.param(
            {"generation_config__json": {"pad_token_id": 1.5}},
            "pad_token_id",
            "1.5",
            id="pad-float",
        ),
        pytest.param(
            {"tokenizer_config__json": {"chat_template": 7}},
            "chat_template",
            "7",
            id="template-int",
        ),
        pytest.param(
            {"tokenizer_config__json": {"eos_token": 5}}, "eos_token", "5", id="eos-token-int"
        ),
    ],
)
def test_unusable_companion_values_are_warned_about_and_ignored(
    tmp_path: Path, files: dict[str, object], key: str, value: str
) -> None:
    """A present but unusable value is left out, with a warning naming file, key and value."""
    with structlog.testing.capture_logs() as logs:
        tok = ModelCard(model=str(_card_with(tmp_path, **files))).load()
    events = [e for e in logs if e["event"] == "companion_value_ignored"]
    assert [(e["key"], e["value"]) for e in events if e["value"] == value] == [(key, value)]
    assert events[0]["log_level"] == "warning"
    assert events[0]["file"].endswith(".json")
    assert all(0 <= i < tok.vocab_size for i in tok.eos_token_ids)
    assert tok.context_length is None
    assert tok.chat_template is None
    assert any(value in w for w in tok.describe()["warnings"])


def test_a_good_value_beside_an_unusable_one_is_used(tmp_path: Path) -> None:
    """An unusable context length does not hide a usable one further down the list."""
    card = _card_with(
        tmp_path, config__json={"max_position_embeddings": "lots", "n_positions": 1024}
    )
    tok = ModelCard(model=str(card)).load()
    assert tok.context_length == 1024
    assert tok.config.context_length_source == "config.json n_positions"
    assert len(tok.config.warnings) == 1


def test_inspect_shows_the_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`modelcard inspect` lists ignored companion values."""
    from modelcard.cli import main

    card = _card_with(tmp_path, config__json={"eos_token_id": 99999999})
    assert main(["inspect", "--model", str(card)]) == 0
    out = capsys.readouterr().out
    assert (
        "config.json eos_token_id = 99999999: not a token id of this 50257-token vocabulary" in out
    )
