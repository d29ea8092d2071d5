"""Who decodes: fastokens on its own cards, HF when DYN_DECODER asks, with HF's results.

The reference is HF ``tokenizers`` called directly on each fixture's tokenizer.json.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest
import tokenizers
from pydantic import ValidationError
from tokenizers.decoders import DecodeStream as HFDecodeStream

from modelcard import BackendUnavailableError, ModelCard

from .helpers import (
    FAST_TOKENIZERS,
    FIXTURES,
    chat_texts,
    fixture_dir,
    loaded,
    multilingual_texts,
    unicode_texts,
)

#: Text that reaches byte-fallback tokens and multibyte characters split across tokens.
BYTE_FALLBACK = [
    "\U0001d510\U0001d51e\U0001d531\U0001d525 🀄 🂡 \U0001f9ec 𓀀𓀁 ꙮ",
    "日本語のテキスト 中文字符 한국어",
    "e\u0301\u0302 Z\u0351\u0352",
]


def reference(name: str) -> Any:
    return tokenizers.Tokenizer.from_file(str(FIXTURES / name / "tokenizer.json"))


def sample_ids(name: str) -> list[list[int]]:
    ref = reference(name)
    texts = chat_texts()[:30] + multilingual_texts() + unicode_texts()[:400:8] + BYTE_FALLBACK
    rows = [e.ids for e in ref.encode_batch(texts, add_special_tokens=True)]
    rng = random.Random(name)
    size = ref.get_vocab_size(with_added_tokens=True)
    rows += [[rng.randrange(size + 50) for _ in range(rng.randint(1, 40))] for _ in range(150)]
    return rows


@pytest.mark.parametrize("name", FAST_TOKENIZERS)
def test_fastokens_decodes_as_hf_does(name: str) -> None:
    """fastokens' decode equals HF's on real, byte-fallback, random and past-vocabulary ids."""
    tok, ref = loaded(name, "fastokens"), reference(name)
    assert tok.decoder == "fastokens"
    rows = sample_ids(name)
    for skip in (False, True):
        assert tok.decode_batch(rows, skip_special_tokens=skip) == ref.decode_batch(
            rows, skip_special_tokens=skip
        )
        for row in rows[::5]:
            assert tok.decode(row, skip_special_tokens=skip) == ref.decode(
                row, skip_special_tokens=skip
            )


@pytest.mark.parametrize("name", FAST_TOKENIZERS)
def test_fastokens_streams_as_hf_does(name: str) -> None:
    """fastokens' stream gives HF DecodeStream's chunks, one by one, from an empty prompt."""
    tok, ref = loaded(name, "fastokens"), reference(name)
    compared = 0
    for row in sample_ids(name)[::2]:
        for skip in (False, True):
            theirs = HFDecodeStream(skip_special_tokens=skip)
            try:
                expected = [theirs.step(ref, i) for i in row]
            except Exception:  # HF's own stream gives up on some random byte sequences
                continue
            ours = tok.decode_stream(skip_special_tokens=skip)
            assert [ours.step(i) for i in row] == expected
            compared += 1
    assert compared > 150


def test_a_stream_survives_bytes_that_stop_hfs_own_stream() -> None:
    """A lone UTF-8 lead byte, which makes HF's DecodeStream raise, comes out as U+FFFD."""
    tok, ref = loaded("phi-3-mini", "fastokens"), reference("phi-3-mini")
    row = [15, 210, 28506]  # <0x0C>, <0xCF> (a lead byte with nothing after it), "preis"
    hf = HFDecodeStream(skip_special_tokens=False)
    assert [hf.step(ref, i) for i in row[:2]] == ["\x0c", None]
    with pytest.raises(Exception, match="Invalid prefix"):
        hf.step(ref, row[2])
    stream = tok.decode_stream()
    assert [stream.step(i) for i in row] == ["\x0c", None, "\ufffdpreis"]
    assert stream.step(3186) == " world"  # and it carries on


def test_a_file_without_a_decoder_joins_tokens_with_spaces() -> None:
    """With no decoder in tokenizer.json, HF joins tokens with spaces; fastokens cards do too."""
    tok = loaded("minimal-bpe", "fastokens")
    ids = tok.encode("Hello, world!")
    assert tok.decode(ids) == "He llo ,   w or ld !" == reference("minimal-bpe").decode(ids)


def test_hybrid_encodes_with_fastokens_and_decodes_with_hf() -> None:
    """DYN_DECODER=huggingface keeps the seed's hybrid: fastokens encodes, HF decodes."""
    tok = ModelCard(model=fixture_dir("qwen2.5"), tokenizer="fastokens", decoder="hf").load()
    assert (tok.backend, tok.decoder) == ("fastokens", "huggingface")
    assert tok.stats()["decoder_loaded"] is False  # lazy: the first decode loads it
    ids = tok.encode("Hello wörld 👍")
    assert tok.decode(ids) == "Hello wörld 👍"
    assert tok.stats()["decoder_loaded"] is True
    stream = tok.decode_stream()
    assert "".join(c for c in map(stream.step, ids) if c) == "Hello wörld 👍"


@pytest.mark.parametrize(("when", "loaded_after_load"), [("eager", True), ("lazy", False)])
def test_decoder_load_applies_to_the_hybrid(when: str, loaded_after_load: bool) -> None:
    """DYN_DECODER_LOAD says when the hybrid's decoder loads."""
    tok = ModelCard(
        model=fixture_dir("gpt2"), tokenizer="fastokens", decoder="huggingface", decoder_load=when
    ).load()
    assert tok.stats()["decoder_loaded"] is loaded_after_load


def test_env_selects_the_decoder(env: Any) -> None:
    """DYN_DECODER is read like every other setting, and auto is the default."""
    assert ModelCard(model="x/y").decoder == "auto"
    env(DYN_MODEL="x/y", DYN_DECODER=" HuggingFace ")
    assert ModelCard().decoder == "huggingface"


def test_unknown_decoder_is_rejected_at_construction() -> None:
    """An unknown DYN_DECODER fails before anything loads, listing the names."""
    with pytest.raises(ValidationError, match="DYN_DECODER: unknown backend 'fasttokens'"):
        ModelCard(model="x/y", decoder="fasttokens")


def test_hf_decoder_that_cannot_load_the_file_names_the_setting(tmp_path: Path) -> None:
    """DYN_DECODER=huggingface on a file HF refuses (but fastokens loads) is a typed error."""
    document = json.loads((FIXTURES / "gpt2" / "tokenizer.json").read_text("utf-8"))
    document["version"] = "9.9"  # HF refuses versions it does not know; fastokens ignores it
    (tmp_path / "tokenizer.json").write_text(json.dumps(document), "utf-8")
    card = ModelCard(
        model=str(tmp_path), tokenizer="fastokens", decoder="huggingface", decoder_load="eager"
    )
    with pytest.raises(BackendUnavailableError, match="DYN_DECODER=huggingface") as info:
        card.load()
    assert "Unknown tokenizer version" in info.value.reason
    lazy = ModelCard(model=str(tmp_path), tokenizer="fastokens", decoder="huggingface").load()
    assert lazy.encode("Hello world") == [15496, 995]
    with pytest.raises(BackendUnavailableError, match="Set DYN_DECODER=auto"):
        lazy.decode([15496, 995])


def test_fastokens_card_does_not_load_hf_until_a_fallback_needs_it() -> None:
    """HF tokenizers loads only when an input fastokens cannot encode needs the reference."""
    code = (
        "import sys\n"
        "from modelcard import ModelCard\n"
        f"tok = ModelCard(model={fixture_dir('tiny-bpe-torchtune')!r}, tokenizer='fastokens')"
        ".load()\n"
        "tok.decode(tok.encode('plain text'))\n"
        "before = 'tokenizers' in sys.modules\n"
        "tok.encode('a\\tb')  # byte 0x09 has no token: HF encodes it\n"
        "print(before, 'tokenizers' in sys.modules, tok.encode_fallbacks)\n"
    )
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=FIXTURES
    )
    assert out.stdout.splitlines()[-1].split() == ["False", "True", "1"]
