"""The README's two commands are the ones CI runs and the ones a new user copies."""

from __future__ import annotations

import re

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
