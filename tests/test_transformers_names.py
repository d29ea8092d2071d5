"""The names transformers users reach for give transformers' answers on the same files.

The reference is ``transformers.AutoTokenizer.from_pretrained`` on each bundled fixture.
One documented difference: transformers 5 rebuilds Gemma tokenizers from their class,
which adds a ``<mask>`` token (and more) that tiny-gemma's tokenizer.json does not have;
modelcard serves the file as published.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from modelcard import ModelCard, Tokenizer

from .helpers import FIXTURES

ALL_FIXTURES = sorted(p.parent.name for p in FIXTURES.glob("*/tokenizer.json"))
#: transformers rebuilds these from their class, adding tokens the file does not have.
REBUILT = {"tiny-gemma-cropped-torchtune"}


def transformers_tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoTokenizer.from_pretrained(str(FIXTURES / name), local_files_only=True)


def ours(name: str) -> Tokenizer:
    return ModelCard(model=str(FIXTURES / name)).load()


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_special_token_ids_match_transformers(name: str) -> None:
    """eos/bos/pad/unk_token_id are transformers' singular ids, from the tokenizer's files."""
    ref, tok = transformers_tokenizer(name), ours(name)
    for attribute in ("eos_token_id", "bos_token_id", "pad_token_id", "unk_token_id"):
        assert getattr(tok, attribute) == getattr(ref, attribute), attribute


@pytest.mark.parametrize("name", sorted(set(ALL_FIXTURES) - REBUILT))
def test_vocabulary_names_match_transformers(name: str) -> None:
    """len, get_vocab, all_special_tokens/ids and both conversions equal transformers'."""
    ref, tok = transformers_tokenizer(name), ours(name)
    assert len(tok) == len(ref)
    assert tok.get_vocab() == ref.get_vocab()
    assert tok.all_special_tokens == ref.all_special_tokens
    assert tok.all_special_ids == ref.all_special_ids
    ids = [*range(0, len(tok), max(1, len(tok) // 500)), len(tok), len(tok) + 100]
    for skip in (False, True):
        assert tok.convert_ids_to_tokens(ids, skip_special_tokens=skip) == (
            ref.convert_ids_to_tokens(ids, skip_special_tokens=skip)
        )
    assert tok.convert_ids_to_tokens(ids[1]) == ref.convert_ids_to_tokens(ids[1])
    tokens = [*list(ref.get_vocab())[:300], "<certainly-not-a-token>", "hello"]
    assert tok.convert_tokens_to_ids(tokens) == ref.convert_tokens_to_ids(tokens)
    assert tok.convert_tokens_to_ids("<certainly-not-a-token>") == ref.convert_tokens_to_ids(
        "<certainly-not-a-token>"
    )


def test_rebuilt_gemma_differs_only_by_the_tokens_transformers_adds() -> None:
    """On tiny-gemma, transformers adds tokens; on the file's own ids the answers agree."""
    ref, tok = (
        transformers_tokenizer("tiny-gemma-cropped-torchtune"),
        ours("tiny-gemma-cropped-torchtune"),
    )
    own = len(tok)
    assert len(ref) > own  # tokens transformers made up, the first being <mask>
    assert ref.convert_ids_to_tokens(own) == "<mask>"
    assert tok.convert_ids_to_tokens(own) is None
    assert {t: i for t, i in ref.get_vocab().items() if i < own} == tok.get_vocab()
    assert tok.all_special_tokens == [t for t in ref.all_special_tokens if t != "<mask>"]
    ids = list(range(own))
    assert tok.convert_ids_to_tokens(ids) == ref.convert_ids_to_tokens(ids)


def test_numpy_ids_convert_like_lists() -> None:
    """convert_ids_to_tokens takes numpy arrays and numpy scalars as transformers does."""
    import numpy as np

    tok = ours("gpt2")
    assert tok.convert_ids_to_tokens(np.array([15496, 995])) == ["Hello", "Ġworld"]
    assert tok.convert_ids_to_tokens(np.int64(15496)) == "Hello"
    assert Path(tok.source.tokenizer_json).name == "tokenizer.json"
