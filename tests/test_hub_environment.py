"""HF_* variables are read when a card loads, with the hub client's own precedence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modelcard import ModelCard
from modelcard.hub import hub_environment

from .fakehub import FakeHub
from .helpers import FIXTURES


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing set: huggingface.co, ~/.cache/huggingface/hub, online, no token."""
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    env = hub_environment()
    assert env.endpoint == "https://huggingface.co"
    assert env.cache_dir == Path.home() / ".cache" / "huggingface" / "hub"
    assert env.offline is False
    assert env.token is None


def test_hf_home_and_hub_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """HF_HOME places the cache at $HF_HOME/hub; HF_HUB_CACHE overrides it."""
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hub_environment().cache_dir == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert hub_environment().cache_dir == tmp_path / "cache"


@pytest.mark.parametrize(
    ("value", "offline"), [("1", True), ("true", True), ("ON", True), ("0", False), ("", False)]
)
def test_offline_spellings(env: Callable[..., None], value: str, offline: bool) -> None:
    """HF_HUB_OFFLINE accepts the usual true spellings."""
    env(HF_HUB_OFFLINE=value)
    assert hub_environment().offline is offline


def test_token_is_not_in_repr(env: Callable[..., None]) -> None:
    """The environment's repr says whether a token is set, never the token."""
    env(HF_TOKEN="hf_abcdefghijklmnop")
    assert "hf_abcdefghijklmnop" not in repr(hub_environment())
    assert "token=set" in repr(hub_environment())


def test_hf_home_is_used_for_downloads(
    fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A hub download lands in $HF_HOME/hub when only HF_HOME is set."""
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    fake_hub.add_dir("org/model", FIXTURES / "minimal-bpe")
    tok = ModelCard(model="org/model").load()
    assert tok.source.tokenizer_json.is_relative_to(
        tmp_path / "home" / "hub" / "models--org--model"
    )


def test_endpoint_changed_after_import(fake_hub: FakeHub, hub_server: object) -> None:
    """HF_ENDPOINT set after huggingface_hub was imported is still honoured."""
    import huggingface_hub  # noqa: F401  (already imported by earlier tests, or now)

    fake_hub.add_dir("org/model", FIXTURES / "minimal-bpe")
    assert ModelCard(model="org/model").load().encode("Hello") == [18, 20]
    assert fake_hub.count("GET", "tokenizer.json") == 1
