"""Cheap to ship: a tokenizer pickles as its pinned card and reloads through the cache."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modelcard import FingerprintMismatchError, ModelCard, Tokenizer

from .fakehub import FakeHub
from .helpers import FIXTURES, chat_texts, fixture_dir

#: A pickle this small holds settings and a fingerprint, never a vocabulary.
SMALL = 4096

CARDS = [
    pytest.param("qwen2.5", "fastokens", "fastokens", id="qwen2.5-fastokens"),
    pytest.param("bert-base-uncased", "fastokens", "huggingface", id="bert-fallback-hf"),
    pytest.param("gpt2", "default", "huggingface", id="gpt2-hf"),
]


@pytest.mark.parametrize(("name", "requested", "backend"), CARDS)
def test_loaded_tokenizer_pickles_small(name: str, requested: str, backend: str) -> None:
    """A loaded tokenizer pickles to a few hundred bytes and unpickles to the cached instance."""
    tok = ModelCard(model=fixture_dir(name), tokenizer=requested).load()
    assert tok.backend == backend
    data = pickle.dumps(tok)
    assert len(data) < SMALL
    assert pickle.loads(data) is tok


@pytest.mark.parametrize(("name", "requested", "backend"), CARDS)
def test_pinned_card_pickles_small(name: str, requested: str, backend: str) -> None:
    """The card a tokenizer carries pickles small, with the fingerprint it was loaded with."""
    tok = ModelCard(model=fixture_dir(name), tokenizer=requested).load()
    card = pickle.loads(pickle.dumps(tok.card))
    assert len(pickle.dumps(tok.card)) < SMALL
    assert card == tok.card
    assert card.fingerprint == tok.fingerprint


def test_unpickled_in_a_fresh_process_encodes_the_same(tmp_path: Path) -> None:
    """Another process unpickles the tokenizer by loading the card, and encodes identically."""
    tok = ModelCard(model=fixture_dir("qwen2.5"), tokenizer="fastokens").load()
    texts = chat_texts()[:20]
    (tmp_path / "tok.pickle").write_bytes(pickle.dumps(tok))
    (tmp_path / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    code = (
        "import json, pickle, sys\n"
        "folder = sys.argv[1]\n"
        "tok = pickle.load(open(folder + '/tok.pickle', 'rb'))\n"
        "texts = json.load(open(folder + '/texts.json', encoding='utf-8'))\n"
        "print(json.dumps({'backend': tok.backend, 'fingerprint': tok.fingerprint,\n"
        "                  'ids': [tok.encode(t) for t in texts]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    child = json.loads(out.stdout.splitlines()[-1])
    assert child["backend"] == tok.backend
    assert child["fingerprint"] == tok.fingerprint
    assert child["ids"] == [tok.encode(t) for t in texts]


def _copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target)
    return target


def test_changed_files_fail_to_unpickle(tmp_path: Path) -> None:
    """Files edited between pickling and unpickling raise FingerprintMismatchError."""
    folder = _copy("qwen2.5", tmp_path)
    data = pickle.dumps(ModelCard(model=str(folder), tokenizer="fastokens").load())
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["model_max_length"] = 1234
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(FingerprintMismatchError, match="changed since the card was created"):
        pickle.loads(data)


def test_replaced_tokenizer_json_fails_to_unpickle(tmp_path: Path) -> None:
    """A different tokenizer.json at the same path is caught, not silently used."""
    folder = _copy("minimal-bpe", tmp_path)
    data = pickle.dumps(ModelCard(model=str(folder)).load())
    shutil.copy(FIXTURES / "minimal-bpe-punct" / "tokenizer.json", folder / "tokenizer.json")
    with pytest.raises(FingerprintMismatchError):
        pickle.loads(data)


def test_touched_but_unchanged_files_still_unpickle(tmp_path: Path) -> None:
    """The fingerprint is over contents: rewriting the same bytes reloads and passes."""
    folder = _copy("minimal-bpe", tmp_path)
    tok = ModelCard(model=str(folder)).load()
    data = pickle.dumps(tok)
    raw = (folder / "tokenizer.json").read_bytes()
    (folder / "tokenizer.json").unlink()
    (folder / "tokenizer.json").write_bytes(raw)  # a new inode: the cache cannot match it
    again = pickle.loads(data)
    assert isinstance(again, Tokenizer)
    assert again is not tok
    assert again.fingerprint == tok.fingerprint


def test_hub_card_pickles_pinned_to_its_commit(fake_hub: FakeHub) -> None:
    """A hub tokenizer unpickles at the commit it was loaded from, even after main moved."""
    first = fake_hub.add_dir("org/model", FIXTURES / "minimal-bpe")
    tok = ModelCard(model="org/model").load()
    data = pickle.dumps(tok)
    assert len(data) < SMALL
    fake_hub.add_dir("org/model", FIXTURES / "minimal-bpe-chat")  # main now points elsewhere
    again = pickle.loads(data)
    assert again.source.commit == first
    assert again.fingerprint == tok.fingerprint
    assert ModelCard(model="org/model").load().fingerprint != tok.fingerprint


# -- pinning without loading (the Ray driver) ----------------------------------------------

PINNED = [
    pytest.param("qwen2.5", {"tokenizer": "fastokens"}, id="qwen2.5-dir"),
    pytest.param("bert-base-uncased", {"tokenizer": "fastokens"}, id="bert-fallback"),
    pytest.param("minimal-bpe/tokenizer.json", {}, id="a-tokenizer.json-file"),
    pytest.param("tiktoken-o200k-cut", {"tiktoken_pattern": "o200k_base"}, id="tiktoken-dir"),
]


@pytest.mark.parametrize(("name", "settings"), PINNED)
def test_pin_card_pins_what_a_load_pins(name: str, settings: dict[str, str]) -> None:
    """pin_card gives the card a load gives its tokenizer, without opening a backend."""
    from modelcard.loader import pin_card

    card = ModelCard(model=str(FIXTURES / name), **settings)
    pinned = pin_card(card)
    tok = card.load()
    assert pinned == tok.card
    assert pinned.fingerprint == tok.fingerprint
    assert pickle.loads(pickle.dumps(pinned)).load() is tok


def test_pin_card_makes_a_relative_path_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative model path is pinned absolute: Ray workers run in other directories."""
    from modelcard.loader import pin_card

    folder = _copy("minimal-bpe", tmp_path)
    monkeypatch.chdir(tmp_path)
    pinned = pin_card(ModelCard(model="./minimal-bpe"))
    assert pinned.model == str(folder)


def test_pin_card_checks_the_fingerprint_and_the_file(tmp_path: Path) -> None:
    """A card whose files changed, or an empty tokenizer.json, fails at the pin."""
    from modelcard import TokenizerLoadError
    from modelcard.loader import pin_card

    folder = _copy("minimal-bpe", tmp_path)
    pinned = pin_card(ModelCard(model=str(folder)))
    shutil.copy(FIXTURES / "minimal-bpe-punct" / "tokenizer.json", folder / "tokenizer.json")
    with pytest.raises(FingerprintMismatchError, match="changed since the card was created"):
        pin_card(pinned)
    (folder / "tokenizer.json").write_bytes(b"")
    with pytest.raises(TokenizerLoadError, match="is empty"):
        pin_card(ModelCard(model=str(folder)))


def test_pin_card_pins_a_hub_repo_to_its_commit(fake_hub: FakeHub) -> None:
    """A hub card is pinned to the commit main names now, as a load pins it."""
    from modelcard.loader import pin_card

    first = fake_hub.add_dir("org/model", FIXTURES / "minimal-bpe")
    pinned = pin_card(ModelCard(model="org/model"))
    assert pinned.revision == first
    fake_hub.add_dir("org/model", FIXTURES / "minimal-bpe-chat")  # main moves on
    assert pinned.load().source.commit == first
    assert pinned == ModelCard(model="org/model", revision=first).load().card
