"""The public surface is exactly what __all__ names."""

from __future__ import annotations

import subprocess
import sys

import modelcard
from modelcard import errors


def test_all_is_exactly_the_public_names() -> None:
    """__all__ lists every public name of the package and nothing else."""
    public = {
        name
        for name, value in vars(modelcard).items()
        if not name.startswith("_") and not isinstance(value, type(modelcard))
    }
    assert set(modelcard.__all__) == public | {"__version__"}


def test_every_error_is_exported() -> None:
    """Every exception class in modelcard.errors is reachable from the package."""
    for name in errors.__all__:
        assert getattr(modelcard, name) is getattr(errors, name)


def test_import_stays_light() -> None:
    """Importing modelcard loads neither huggingface_hub, tokenizers, fastokens nor numpy."""
    code = (
        "import sys, modelcard\n"
        "heavy = [m for m in ('huggingface_hub', 'tokenizers', 'fastokens', 'numpy', 'jinja2')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
