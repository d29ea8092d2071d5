"""How a model reference is read: local path or hub repo id, decided by its text alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelcard import (
    InvalidModelError,
    ModelCard,
    ModelNotFoundError,
)
from modelcard.sources import classify

from .helpers import FIXTURES


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
def test_repo_ids(model: str) -> None:
    """'name' and 'namespace/name' are hub repo ids."""
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
def test_invalid_references(model: str, needle: str) -> None:
    """A reference that is neither a path nor a valid repo id is rejected, saying why."""
    with pytest.raises(InvalidModelError, match=needle):
        classify(model)


def test_repo_id_is_not_read_as_relative_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bare name stays a repo id even when a directory of that name exists here."""
    (tmp_path / "mymodel").mkdir()
    (tmp_path / "mymodel" / "tokenizer.json").write_bytes(
        (FIXTURES / "minimal-bpe" / "tokenizer.json").read_bytes()
    )
    monkeypatch.chdir(tmp_path)
    assert classify("mymodel")[0] == "hub"
    assert ModelCard(model="./mymodel").load().encode("Hello") == [18, 20]


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
