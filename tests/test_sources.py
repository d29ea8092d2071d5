"""How a model reference is read: a local path when it is on disk, else a hub repo id."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from modelcard import (
    InvalidModelError,
    ModelCard,
    ModelNotFoundError,
)
from modelcard.sources import classify

from .helpers import FIXTURES, ROOT

MINIMAL_JSON = FIXTURES / "minimal-bpe" / "tokenizer.json"


@pytest.mark.parametrize(
    "model",
    [
        "/abs/path",
        "./relative",
        "../up",
        ".",
        "~/models/x",
        "a/b/c",
        "org/../etc",
        "some/tokenizer.json",
        "C:\\models\\x",
    ],
)
def test_local_paths(model: str) -> None:
    """Absolute, dotted, home, multi-segment, backslash and .json references are local paths."""
    assert classify(model)[0] == "local"


@pytest.mark.parametrize("model", ["gpt2", "Qwen/Qwen2.5-1.5B-Instruct", "org/name.v2", "a_b/c-d"])
def test_repo_ids(model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'name' and 'namespace/name' that exist nowhere on disk here are hub repo ids."""
    monkeypatch.chdir(tmp_path)
    assert classify(model)[0] == "hub"


@pytest.mark.parametrize(
    ("model", "needle"),
    [
        pytest.param("org/..", "'--' and '..' are not allowed", id="dotdot-segment"),
        pytest.param("org/na..me", "'--' and '..' are not allowed", id="dotdot-inside"),
        pytest.param("org/-name", "starts or ends", id="leading-dash"),
        pytest.param("org/na me", "only letters", id="space"),
        pytest.param("o" * 97, "longer than 96", id="too-long"),
        pytest.param("", "No model given", id="empty"),
    ],
)
def test_invalid_references(
    model: str, needle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reference that is neither an existing path nor a valid repo id is rejected, saying why."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidModelError, match=needle):
        classify(model)


def test_invalid_reference_says_no_such_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rejection says nothing of that name exists in the working directory."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidModelError, match="neither an existing path") as info:
        classify("org/na me")
    assert str(tmp_path) in str(info.value)


def test_relative_path_of_a_fixture_loads_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    """'fixtures/gpt2', typed from the repo root, is the local directory, not a hub repo."""
    monkeypatch.chdir(ROOT)
    kind, reason = classify("fixtures/gpt2")
    assert (kind, reason) == (
        "local",
        "read as a local path because it exists in the working directory",
    )
    tok = ModelCard(model="fixtures/gpt2").load()
    assert tok.source.kind == "local"
    assert tok.encode("Hello world") == [15496, 995]


@pytest.mark.parametrize("model", ["mymodel", "org/mymodel"])
def test_existing_directory_wins_over_the_hub(
    model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 'name' or 'namespace/name' that exists as a directory here loads from it."""
    (tmp_path / model).mkdir(parents=True)
    (tmp_path / model / "tokenizer.json").write_bytes(MINIMAL_JSON.read_bytes())
    monkeypatch.chdir(tmp_path)
    tok = ModelCard(model=model).load()
    assert tok.source.tokenizer_json == tmp_path / model / "tokenizer.json"
    assert tok.encode("Hello") == [18, 20]


def test_existing_file_of_any_name_loads_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file named like a repo id, without '.json', is read as the tokenizer file."""
    (tmp_path / "tok").write_bytes(MINIMAL_JSON.read_bytes())
    monkeypatch.chdir(tmp_path)
    assert ModelCard(model="tok").load().encode("Hello") == [18, 20]


def test_existing_directory_without_tokenizer_json_is_not_sent_to_the_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bare name that exists here but holds no tokenizer.json fails locally, listing its files."""
    (tmp_path / "mymodel").mkdir()
    (tmp_path / "mymodel" / "vocab.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFoundError, match=r"exists in the working directory.*vocab\.json"):
        ModelCard(model="mymodel").load()


def test_dangling_symlink_is_a_broken_local_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bare name that is a symlink to nothing is a local path that does not exist."""
    os.symlink(tmp_path / "gone", tmp_path / "mymodel")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        ModelCard(model="mymodel").load()


def test_relative_path_pickles_for_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tokenizer loaded from a relative path unpickles in a process started elsewhere."""
    (tmp_path / "mymodel").mkdir()
    (tmp_path / "mymodel" / "tokenizer.json").write_bytes(MINIMAL_JSON.read_bytes())
    monkeypatch.chdir(tmp_path)
    tok = ModelCard(model="mymodel").load()
    assert tok.card.model == str(tmp_path / "mymodel")
    (tmp_path / "tok.pickle").write_bytes(pickle.dumps(tok))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = "import pickle, sys; print(pickle.load(open(sys.argv[1], 'rb')).encode('Hello'))"
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "tok.pickle")],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        check=True,
    )
    assert result.stdout.strip() == "[18, 20]"


def test_direct_file_path() -> None:
    """A path straight to a tokenizer.json loads it."""
    tok = ModelCard(model=str(FIXTURES / "minimal-bpe" / "tokenizer.json")).load()
    assert tok.encode("Hello, world!") == [18, 20, 3, 1, 17, 21, 22, 2]


def test_missing_path_names_the_reading() -> None:
    """A local path that does not exist says it was read as a local path."""
    with pytest.raises(ModelNotFoundError, match="read as a local path") as info:
        ModelCard(model="/definitely/not/here").load()
    assert isinstance(info.value, FileNotFoundError)


def test_directory_without_tokenizer_json(tmp_path: Path) -> None:
    """A directory with no tokenizer.json lists what it holds and how to get one."""
    (tmp_path / "tokenizer.model").write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match=r"has no tokenizer.json.*tokenizer.model"):
        ModelCard(model=str(tmp_path)).load()


def test_symlink_loop(tmp_path: Path) -> None:
    """A symlink loop is a typed error naming the loop, not an OSError."""
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    with pytest.raises(InvalidModelError, match="symlink loop"):
        ModelCard(model=str(loop)).load()


def test_non_utf8_path(tmp_path: Path) -> None:
    """A directory whose name is not valid UTF-8 loads, and errors about it print safely."""
    raw = os.fsencode(tmp_path) + b"/mod\xffel"
    os.mkdir(raw)
    with open(raw + b"/tokenizer.json", "wb") as f:
        f.write((FIXTURES / "minimal-bpe" / "tokenizer.json").read_bytes())
    name = os.fsdecode(raw)
    assert ModelCard(model=name).load().encode("Hello") == [18, 20]
    with pytest.raises(ModelNotFoundError) as info:
        ModelCard(model=name + "-missing").load()
    str(info.value).encode("utf-8")  # printable: no lone surrogates in the message
