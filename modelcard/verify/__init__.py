"""``modelcard verify``: check one backend against another on real text.

By default the fastest backend (fastokens, with fallback off) is checked against the
reference (HF ``tokenizers``) on encode, decode and stream; ``--backend`` and
``--reference`` pick any two registered backends, e.g. ``--reference transformers`` to
see where transformers' ids differ from the published tokenizer.json.

    texts.py     the texts: files, directories, a built-in sample
    check.py     verify() and verify_model(): the comparisons
    results.py   Mismatch, TokenizerResult, VerifyReport
    command.py   the ``modelcard verify`` subcommand

>>> report = verify(["./fixtures/gpt2"])  # doctest: +SKIP
>>> report.ok, report.totals()["mismatches"]  # doctest: +SKIP
(True, 0)
"""

from ..errors import TextsError as TextsError
from .check import (
    STREAM_EVERY as STREAM_EVERY,
    VARIANT_CHARS as VARIANT_CHARS,
    VARIANTS as VARIANTS,
    default_candidate as default_candidate,
    default_reference as default_reference,
    verify as verify,
    verify_model as verify_model,
)
from .results import (
    Mismatch as Mismatch,
    TokenizerResult as TokenizerResult,
    VerifyReport as VerifyReport,
)
from .texts import (
    Sample as Sample,
    builtin_samples as builtin_samples,
    default_shared_dir as default_shared_dir,
    find_tokenizers as find_tokenizers,
    read_texts as read_texts,
)

__all__ = [
    "STREAM_EVERY",
    "VARIANTS",
    "VARIANT_CHARS",
    "Mismatch",
    "Sample",
    "TextsError",
    "TokenizerResult",
    "VerifyReport",
    "builtin_samples",
    "default_candidate",
    "default_reference",
    "default_shared_dir",
    "find_tokenizers",
    "read_texts",
    "verify",
    "verify_model",
]
