"""The modelcard command: flags from ModelCard's fields, DYN_* variables, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from modelcard import ModelCard
from modelcard.cli import build_parser, main

from .helpers import ROOT, fixture_dir

HELLO = [18, 20, 3, 1, 17, 21, 22, 2]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_card_field_is_a_flag() -> None:
    """Each ModelCard field has a CLI flag on every command, with its DYN_* variable in the help."""
    for command in ("inspect", "encode", "decode"):
        sub = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
        flags = {opt for action in sub._actions for opt in action.option_strings}
        helps = " ".join(action.help or "" for action in sub._actions)
        for name in ModelCard.model_fields:
            assert "--" + name.replace("_", "-") in flags
            assert f"DYN_{name.upper()}" in helps


def test_encode(capsys: pytest.CaptureFixture[str]) -> None:
    """encode prints the ids."""
    code, out, _ = run(
        capsys,
        "encode",
        "--model",
        fixture_dir("minimal-bpe"),
        "--tokenizer",
        "fastokens",
        "Hello, world!",
    )
    assert code == 0
    assert out.split() == [str(i) for i in HELLO]


def test_encode_json_and_env(capsys: pytest.CaptureFixture[str], env: Callable[..., None]) -> None:
    """DYN_* variables stand in for flags, and --json prints machine-readable output."""
    env(DYN_MODEL=fixture_dir("minimal-bpe"), DYN_TOKENIZER="fastokens")
    code, out, _ = run(capsys, "encode", "--json", "Hello, world!")
    assert code == 0
    assert json.loads(out) == {"ids": HELLO, "backend": "fastokens"}


def test_flag_beats_env(capsys: pytest.CaptureFixture[str], env: Callable[..., None]) -> None:
    """A flag overrides its environment variable."""
    env(DYN_MODEL=fixture_dir("minimal-bpe"), DYN_TOKENIZER="fastokens")
    _, out, _ = run(capsys, "encode", "--json", "--tokenizer", "hf", "Hello")
    assert json.loads(out)["backend"] == "huggingface"


def test_decode(capsys: pytest.CaptureFixture[str]) -> None:
    """decode takes ids as a list or separated by spaces or commas."""
    for ids in ("18 20", "18,20", "[18, 20]"):
        code, out, _ = run(capsys, "decode", "--model", fixture_dir("minimal-bpe"), ids)
        assert code == 0
        assert out == "He llo\n"


def test_inspect_json(capsys: pytest.CaptureFixture[str]) -> None:
    """inspect --json reports files, backend, fallback reason and the card's metadata."""
    code, out, _ = run(
        capsys,
        "inspect",
        "--json",
        "--model",
        fixture_dir("bert-base-uncased"),
        "--tokenizer",
        "fastokens",
    )
    info = json.loads(out)
    assert code == 0
    assert info["backend"] == "huggingface"
    assert info["requested"] == "fastokens"
    assert "BertNormalizer" in info["fallback_reason"]
    assert info["files"]["tokenizer.json"].endswith("bert-base-uncased/tokenizer.json")
    assert info["fingerprint"].startswith("sha256:")


def test_inspect_text(capsys: pytest.CaptureFixture[str]) -> None:
    """inspect prints the files found, the backend and why."""
    code, out, err = run(
        capsys, "inspect", "--model", fixture_dir("minimal-bpe-nfkd"), "--tokenizer", "fastokens"
    )
    assert code == 0
    assert "tokenizer.json:" in out
    assert "huggingface (requested: fastokens); fell back because:" in out
    assert "unsupported normalizer type: NFKD" in out
    assert "tokenizer_fallback" in err  # the warning goes to stderr, never to stdout


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        pytest.param(
            ["--model", "x/y", "--tokenizer", "fasttokens"],
            2,
            "Did you mean 'fastokens'?",
            id="bad-backend",
        ),
        pytest.param([], 2, "set DYN_MODEL or --model", id="no-model"),
        pytest.param(["--model", "./does-not-exist"], 1, "read as a local path", id="missing"),
        pytest.param(
            [
                "--model",
                fixture_dir("minimal-bpe-nfkd"),
                "--tokenizer",
                "fastokens",
                "--no-tokenizer-fallback",
            ],
            1,
            "DYN_TOKENIZER_FALLBACK=true",
            id="strict",
        ),
    ],
)
def test_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], code: int, needle: str
) -> None:
    """Failures print one line on stderr and exit non-zero: 2 for settings, 1 for loading."""
    got, out, err = run(capsys, "inspect", *args)
    assert got == code
    assert out == ""
    lines = [line for line in err.splitlines() if line.startswith("modelcard: error:")]
    assert len(lines) == 1
    assert needle in lines[0]


def test_python_dash_m(tmp_path: object) -> None:
    """python -m modelcard runs the same command."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelcard",
            "encode",
            "--model",
            fixture_dir("minimal-bpe"),
            "Hello, world!",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.split() == [str(i) for i in HELLO]


def test_closed_pipe_is_quiet(tmp_path: Path) -> None:
    """A reader that goes away (`| head`) ends the command without a traceback."""
    text = (ROOT / "fixtures" / "texts" / "code" / "calendar.py").read_text(encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "modelcard", "encode", "--model", fixture_dir("gpt2"), text],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdout is not None
    process.stdout.close()  # before the command writes anything
    _, err = process.communicate(timeout=120)
    assert b"Traceback" not in err
    assert b"BrokenPipeError" not in err
    assert process.returncode == 1
