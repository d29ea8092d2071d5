"""The README's two commands are the ones CI runs and the ones a new user copies."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from .helpers import ROOT


def commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(python3 -m venv[^\n]*)\n```", readme)


def test_readme_has_exactly_two_setup_commands() -> None:
    """The README opens with exactly two one-line setup commands."""
    assert len(commands()) == 2


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run runs the README's test command verbatim."""
    test_command = commands()[1]
    assert "pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def python_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", readme, flags=re.S)


def printed_values(block: str) -> list[str]:
    """The values the block says it prints: the comments after its print(...) lines."""
    return [
        line.split("  # ", 1)[1]
        for line in block.splitlines()
        if line.startswith("print(") and "  # " in line
    ]


@pytest.mark.parametrize("number", range(len(python_blocks())))
def test_readme_python_blocks_run_and_print_what_they_say(number: int) -> None:
    """Every Python block of the README runs offline as written and prints its comments."""
    block = python_blocks()[number]
    result = subprocess.run(
        [sys.executable, "-c", block],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == printed_values(block)


def test_readme_has_python_blocks() -> None:
    """The quickstart is Python the tests run, not prose."""
    assert len(python_blocks()) >= 3
    assert all(printed_values(block) for block in python_blocks())
