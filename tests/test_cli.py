"""The modelcard command: flags from the fields, DYN_* variables, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from modelcard import ModelCard, __version__, loader
from modelcard.cli import main

from .helpers import ROOT, fixture_dir

HELLO = [18, 20, 3, 1, 17, 21, 22, 2]
COMMANDS = ("inspect", "encode", "decode", "verify", "tokenize")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def command(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelcard", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=False,
        timeout=300,
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_every_card_field_is_a_flag(capsys: pytest.CaptureFixture[str], name: str) -> None:
    """Each ModelCard field is a kebab-case flag of every command, with its DYN_* variable."""
    code, out, _ = run(capsys, name, "--help")
    assert code == 0
    for field in ModelCard.model_fields:
        assert "--" + field.replace("_", "-") in out
        assert f"DYN_{field.upper()}" in out.replace("\n", "").replace(" ", "")
    assert "--no-tokenizer-fallback" in out


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """modelcard --help says what each exit code means."""
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "exit codes: 0 ok, 1 the card or the data failed, 2 usage or settings, 130" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the version, wherever it stands."""
    code, out, _ = run(capsys, "encode", "--version")
    assert (code, out) == (0, f"modelcard {__version__}\n")


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


def test_split_special_tokens_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """--split-special-tokens encodes special-token strings as text."""
    model = fixture_dir("qwen2.5")
    _, plain, _ = run(capsys, "encode", "--model", model, "a<|im_end|>")
    _, split, _ = run(capsys, "encode", "--model", model, "--split-special-tokens", "a<|im_end|>")
    assert "151645" in plain.split()
    assert "151645" not in split.split()


def test_decode(capsys: pytest.CaptureFixture[str]) -> None:
    """decode takes ids as a list or separated by spaces or commas."""
    for ids in ("18 20", "18,20", "[18, 20]"):
        code, out, _ = run(capsys, "decode", "--model", fixture_dir("minimal-bpe"), ids)
        assert code == 0
        assert out == "He llo\n"


@pytest.mark.parametrize(
    ("ids", "needle"),
    [
        pytest.param("[1,2", "not a JSON list", id="half-list"),
        pytest.param("1 -2", "'-2' is not one", id="negative"),
        pytest.param("1 2.5", "'2.5' is not one", id="decimal"),
        pytest.param("[true]", "list of non-negative integers", id="bool"),
        pytest.param("one two", "'one' is not one", id="words"),
    ],
)
def test_malformed_ids_are_usage_errors(
    capsys: pytest.CaptureFixture[str], ids: str, needle: str
) -> None:
    """Ids that are not ids exit 2 with one line, and print nothing."""
    code, out, err = run(capsys, "decode", "--model", fixture_dir("gpt2"), "--", ids)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert needle in err


def test_stdin_text_and_lines() -> None:
    """'-' reads standard input: all of it as one text, or one input per line with --lines."""
    model = fixture_dir("gpt2")
    whole = command("encode", "--model", model, "-", stdin="Hello world")
    assert whole.stdout.split() == ["15496", "995"]
    lines = command("encode", "--model", model, "--lines", "-", stdin="Hello\nworld\n")
    assert lines.stdout.splitlines() == ["15496", "6894"]
    decoded = command("decode", "--model", model, "--lines", "-", stdin="15496 995\n[6894]\n")
    assert decoded.stdout.splitlines() == ["Hello world", "world"]


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
    assert info["fallback_reason"] == "fastokens implements BPE only; this is a WordPiece model"
    assert info["files"]["tokenizer.json"].endswith("bert-base-uncased/tokenizer.json")
    assert info["fingerprint"].startswith("sha256:")


def test_inspect_text(capsys: pytest.CaptureFixture[str]) -> None:
    """inspect prints the files found, the backend and why; the warning goes to stderr."""
    code, out, err = run(
        capsys, "inspect", "--model", fixture_dir("minimal-bpe-punct"), "--tokenizer", "fastokens"
    )
    assert code == 0
    assert "tokenizer.json:" in out
    assert "huggingface (requested: fastokens); fell back because:" in out
    assert "unsupported pre-tokenizer type: Punctuation" in out
    assert err.startswith("modelcard: warning: tokenizer_fallback")


def test_inspect_names_the_rewrite(capsys: pytest.CaptureFixture[str]) -> None:
    """inspect says fastokens serves the file after its rewrite; --no-tokenizer-rewrite
    falls back with the real cause."""
    model = fixture_dir("rewrites/roberta-processing")
    code, out, _ = run(capsys, "inspect", "--model", model, "--tokenizer", "fastokens")
    assert code == 0
    assert "fastokens, after rewrite 'roberta-template' (requested: fastokens)" in out
    assert "fell back" not in out
    args = ["inspect", "--model", model, "--tokenizer", "fastokens", "--no-tokenizer-rewrite"]
    code, out, err = run(capsys, *args)
    assert code == 0
    assert "huggingface (requested: fastokens); fell back because:" in out
    assert err.startswith("modelcard: warning: tokenizer_fallback")
    assert "RobertaProcessing post-processor" in out
    assert "DYN_TOKENIZER_REWRITE=false" in out


def test_verbosity_anywhere_on_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    """-q silences warnings and -v shows info, before or after the subcommand."""
    args = ["inspect", "--model", fixture_dir("minimal-bpe-punct"), "--tokenizer", "auto"]

    def stderr(*line: str) -> str:
        loader.clear_cache()  # a cached card logs nothing the second time
        return run(capsys, *line)[2]

    quiet, default = stderr(*args, "-q"), stderr(*args)
    verbose, after = stderr("-v", *args), stderr(*args, "-v")
    assert quiet == default == ""  # auto's fallback is an info event
    assert "modelcard: info: tokenizer_fallback" in verbose
    assert verbose == after


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        pytest.param(
            ["inspect", "--model", "x/y", "--tokenizer", "fasttokens"],
            2,
            "--tokenizer / DYN_TOKENIZER: unknown backend 'fasttokens'. Did you mean 'fastokens'?",
            id="bad-backend",
        ),
        pytest.param(
            ["inspect", "--model", "x/y", "--hub-timeout", "-1"],
            2,
            "--hub-timeout / DYN_HUB_TIMEOUT: Input should be greater than 0",
            id="bad-number",
        ),
        pytest.param(["inspect"], 2, "--model / DYN_MODEL: required", id="no-model"),
        pytest.param(
            ["inspect", "--modle", "x"], 2, "unrecognized arguments: --modle", id="bad-flag"
        ),
        pytest.param(["encode", "--model", "x/y"], 2, "required: TEXT", id="missing-argument"),
        pytest.param(["frobnicate"], 2, "invalid choice: 'frobnicate'", id="bad-command"),
        pytest.param(["inspect", "--model", "./does-not-exist"], 1, "does not exist", id="missing"),
        pytest.param(
            [
                "inspect",
                "--model",
                fixture_dir("minimal-bpe-punct"),
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
    """Failures print one line on stderr: exit 2 for usage and settings, 1 for the card."""
    got, out, err = run(capsys, *args)
    assert got == code
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("modelcard: error: ")
    assert needle in err


def test_env_validation_error_names_the_variable(
    env: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad DYN_* value is reported as a settings error naming it."""
    env(DYN_MODEL="x/y", DYN_TOKENIZER_CACHE_BYTES="lots")
    code, _, err = run(capsys, "inspect")
    assert code == 2
    assert "--tokenizer-cache-bytes / DYN_TOKENIZER_CACHE_BYTES: could not parse" in err


def test_ctrl_c_exits_130_with_one_line() -> None:
    """SIGINT while the command runs exits 130 with one line and no traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "modelcard", "encode", "--model", fixture_dir("gpt2"), "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        text=True,
    )
    time.sleep(3)  # let it import and wait on standard input
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err == "modelcard: error: interrupted\n"


def test_python_dash_m() -> None:
    """python -m modelcard runs the same command."""
    result = command("encode", "--model", fixture_dir("minimal-bpe"), "Hello, world!")
    assert result.returncode == 0
    assert result.stdout.split() == [str(i) for i in HELLO]


def test_relative_model_path_loads_locally() -> None:
    """--model fixtures/gpt2, typed as a relative path, loads the local directory."""
    result = command(
        "encode", "--model", "fixtures/gpt2", "Hello world", env={"HF_HUB_OFFLINE": "1"}
    )
    assert (result.returncode, result.stdout.split()) == (0, ["15496", "995"])


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
