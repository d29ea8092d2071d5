"""Rewrites: files fastokens refuses are served by fastokens after a named rewrite, with
HF's ids, decodes and streams on the original file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tokenizers import Tokenizer as HFTokenizer

from modelcard import ModelCard, Tokenizer
from modelcard.backends import rewrites

from .helpers import FIXTURES, chat_texts, multilingual_texts

REWRITE_FIXTURES = FIXTURES / "rewrites"

#: Texts around added tokens and leading spaces, where rewrites could differ.
EDGE_TEXTS = [
    "",
    " ",
    "  leading spaces",
    "▁already marked",
    "\n<s>\n",
    "<s>",
    "<s>hello",
    "hello<s>",
    " <s> hi </s>",
    "</s></s>a",
    "x <unk> y",
    "<unk>",
    "<mask> word and <mask>",
    "<|endoftext|>hi",
    "text<|endoftext|> <|endoftext|>",
    "<|startoftranscript|><|en|><|transcribe|> hello there",
    "<|im_start|>user\nhi<|im_end|>",
    "tabs\tand\u00a0nbsp and 🎉 emoji",
    "日本語のテキスト and English",
    # Compatibility forms NFKC/NFKD fold: a special token's full-width form stays text in
    # HF (it matches special tokens on the raw text), a combining mark after a token
    # stays with the piece after it.
    "\uff1c\uff5cim_start\uff5c\uff1euser\nhi\uff1c\uff5cim_end\uff5c\uff1e",
    "<|im_start|>\u0301x<|im_end|>\u0308",
    "<s>\u0301 </s>\u0327c",
    "ﬁne ﬂow Ⅻ ½ ㎏ ｶﾀｶﾅ e\u0301 Å",
]


def texts() -> list[str]:
    return EDGE_TEXTS + chat_texts()[:60] + [t[:3000] for t in multilingual_texts()]


def load(path: Path | str, **settings: Any) -> Tokenizer:
    return ModelCard(
        model=str(path), tokenizer="fastokens", tokenizer_fallback=False, **settings
    ).load()


def assert_same_as_hf(tok: Tokenizer, path: Path, rewrite: str | tuple[str, ...]) -> None:
    """fastokens served after ``rewrite`` and every encode, decode and stream equals HF's."""
    assert tok.backend == "fastokens"
    assert tok.rewrites == ((rewrite,) if isinstance(rewrite, str) else rewrite)
    hf = HFTokenizer.from_file(str(path))
    hf_split = HFTokenizer.from_file(str(path))
    hf_split.encode_special_tokens = True
    reference = ModelCard(model=str(path), tokenizer="huggingface").load()
    sample = texts()
    for add in (False, True):
        expected = [hf.encode(t, add_special_tokens=add).ids for t in sample]
        assert [tok.encode(t, add_special_tokens=add) for t in sample] == expected
        assert tok.encode_batch(sample, add_special_tokens=add) == expected
        assert tok.encode_batch_flat(sample, add_special_tokens=add).rows() == expected
        split = [hf_split.encode(t, add_special_tokens=add).ids for t in sample]
        got = [tok.encode(t, add_special_tokens=add, split_special_tokens=True) for t in sample]
        assert got == split
    segments = [(" <s>hi", True), ("user <s> text", False), ("tail", True)]
    assert tok.encode_segments(segments) == reference.encode_segments(segments)
    rows = [hf.encode(t, add_special_tokens=True).ids for t in sample]
    for skip in (False, True):
        assert [tok.decode(r, skip_special_tokens=skip) for r in rows] == [
            hf.decode(r, skip_special_tokens=skip) for r in rows
        ]
        assert tok.decode_batch(rows, skip_special_tokens=skip) == hf.decode_batch(
            rows, skip_special_tokens=skip
        )
    for row in rows[:40]:
        ours, theirs = tok.decode_stream(), reference.decode_stream()
        assert [ours.step(i) for i in row] == [theirs.step(i) for i in row]
    assert tok.vocab_size == hf.get_vocab_size(with_added_tokens=True)
    assert tok.get_vocab() == hf.get_vocab(with_added_tokens=True)


@pytest.mark.parametrize(
    ("fixture", "rewrite"),
    [
        pytest.param("cl100k-gaps", "vocab-gaps", id="cl100k-gaps"),
        pytest.param("whisper-empty-token", "vocab-gaps", id="whisper-empty-token"),
        pytest.param("roberta-processing", "roberta-template", id="roberta-processing"),
        pytest.param("mistral-metaspace", "metaspace-normalizer", id="mistral-metaspace-first"),
        pytest.param("qwen2.5-nfkc", "normalizer-in-python", id="qwen2.5-nfkc"),
    ],
)
def test_rewritten_file_matches_hf(fixture: str, rewrite: str) -> None:
    """A refused real vocabulary is served by fastokens after its rewrite, with HF's answers."""
    path = REWRITE_FIXTURES / fixture / "tokenizer.json"
    assert_same_as_hf(load(path.parent), path, rewrite)


def _metaspace_variant(tmp_path: Path, scheme: str, split: bool) -> Path:
    data = json.loads((REWRITE_FIXTURES / "mistral-metaspace" / "tokenizer.json").read_text())
    data["pre_tokenizer"].update(prepend_scheme=scheme, split=split)
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("scheme", "split"),
    [("first", True), ("never", False), ("never", True)],
    ids=["first-split", "never", "never-split"],
)
def test_metaspace_variants_match_hf(tmp_path: Path, scheme: str, split: bool) -> None:
    """Every Metaspace scheme but 'always', split or not, is served with HF's answers."""
    path = _metaspace_variant(tmp_path, scheme, split)
    assert_same_as_hf(load(tmp_path), path, "metaspace-normalizer")


@pytest.mark.parametrize(
    ("scheme", "split", "normalizer", "served_after"),
    [
        ("always", False, None, ("metaspace-in-python",)),
        ("always", True, None, ("metaspace-in-python",)),
        ("always", False, {"type": "NFKC"}, ("normalizer-in-python", "metaspace-in-python")),
        ("never", True, {"type": "NFKD"}, ("normalizer-in-python", "metaspace-in-python")),
        ("always", True, {"type": "Lowercase"}, ("metaspace-in-python",)),
    ],
    ids=["always", "always-split", "always-nfkc", "never-split-nfkd", "always-lowercase"],
)
def test_metaspace_in_python_matches_hf(
    tmp_path: Path,
    scheme: str,
    split: bool,
    normalizer: dict[str, Any] | None,
    served_after: tuple[str, ...],
) -> None:
    """Metaspace forms the normalizer rewrite cannot express ('always', or beside a
    normalizer fastokens lacks) are served with the steps in Python, with HF's answers."""
    path = _metaspace_variant(tmp_path, scheme, split)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["normalizer"] = normalizer
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert_same_as_hf(load(tmp_path), path, served_after)


def test_metaspace_first_with_stripping_tokens_matches_hf(tmp_path: Path) -> None:
    """'first' beside added tokens that strip spaces or hold one: the prepend is decided
    on the piece at offset 0 of HF's split, done in Python."""
    path = _metaspace_variant(tmp_path, "first", False)
    data = json.loads(path.read_text(encoding="utf-8"))
    top = max([*data["model"]["vocab"].values(), *(t["id"] for t in data["added_tokens"])])
    data["added_tokens"] += [
        _added(top + 1, "<mask>", lstrip=True, special=True),
        _added(top + 2, "end turn", rstrip=True),
    ]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert_same_as_hf(load(tmp_path), path, "metaspace-in-python")
    tok = load(tmp_path)
    hf = HFTokenizer.from_file(str(path))
    for text in ("  <mask> hi", "<mask>x", "a end turn  b", " end turn", "x <mask>  <mask>y"):
        assert tok.encode(text) == hf.encode(text, add_special_tokens=False).ids


def _added(token_id: int, content: str, **flags: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": not flags.get("special", False),
        "special": False,
    }
    entry.update(flags)
    return entry


NORMALIZERS = {
    "nfkd": {"type": "NFKD"},
    "nfd": {"type": "NFD"},
    "bert": {
        "type": "BertNormalizer",
        "clean_text": True,
        "handle_chinese_chars": True,
        "strip_accents": True,
        "lowercase": True,
    },
    "strip-accents": {
        "type": "Sequence",
        "normalizers": [{"type": "NFD"}, {"type": "StripAccents"}, {"type": "NFC"}],
    },
    "strip": {"type": "Strip", "strip_left": True, "strip_right": True},
    "nfkc-lowercase": {
        "type": "Sequence",
        "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}],
    },
}


@pytest.mark.parametrize("name", list(NORMALIZERS))
def test_normalizers_fastokens_lacks_match_hf(tmp_path: Path, name: str) -> None:
    """Each normalizer fastokens lacks, on a real byte-level vocabulary, runs in Python on
    HF's pieces: every encode, decode and stream equals HF's."""
    data = json.loads((REWRITE_FIXTURES / "qwen2.5-nfkc" / "tokenizer.json").read_text())
    data["normalizer"] = NORMALIZERS[name]
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert_same_as_hf(load(tmp_path), path, "normalizer-in-python")


def test_nfkd_fixture_is_served_after_the_rewrite() -> None:
    """minimal-bpe-nfkd (NFKD, an unk token, no pre-tokenizer) is served with HF's ids."""
    path = FIXTURES / "minimal-bpe-nfkd" / "tokenizer.json"
    tok = load(path.parent)
    assert (tok.backend, tok.rewrites) == ("fastokens", ("normalizer-in-python",))
    hf = HFTokenizer.from_file(str(path))
    for text in ("Hello, world!", "He\u0301llo ﬁ", "", "Ⅻ ½"):
        assert tok.encode(text) == hf.encode(text, add_special_tokens=False).ids


def test_compatibility_form_of_a_special_token_stays_text() -> None:
    """Under NFKC the full-width form of '<|im_start|>' normalizes to it, yet HF matches
    special tokens on the raw text, so it is text: the control id must not come out."""
    path = REWRITE_FIXTURES / "qwen2.5-nfkc" / "tokenizer.json"
    tok = load(path.parent)
    hf = HFTokenizer.from_file(str(path))
    im_start = hf.token_to_id("<|im_start|>")
    text = "\uff1c\uff5cim_start\uff5c\uff1euser"
    assert im_start not in tok.encode(text)
    assert tok.encode(text) == hf.encode(text, add_special_tokens=False).ids
    assert tok.encode("<|im_start|>user")[0] == im_start


def test_gap_ids_answer_as_hf() -> None:
    """At the filled ids, id_to_token, token_to_id and decode give HF's answers."""
    path = REWRITE_FIXTURES / "cl100k-gaps" / "tokenizer.json"
    tok, hf = load(path.parent), HFTokenizer.from_file(str(path))
    for token_id in (3000, 50_000, 100_256, 100_261, 100_264, 100_276, 100_277):
        assert tok.id_to_token(token_id) == hf.id_to_token(token_id)
        assert tok.decode([72, token_id, 73]) == hf.decode([72, token_id, 73], False)
    filler = next(t for t in json.loads(rewrites.apply_all(path.read_bytes())[0])["model"]["vocab"]
                  if t.startswith("\x00"))  # fmt: skip
    assert tok.token_to_id(filler) is None
    whisper_path = REWRITE_FIXTURES / "whisper-empty-token" / "tokenizer.json"
    whisper, hf_whisper = load(whisper_path.parent), HFTokenizer.from_file(str(whisper_path))
    empty = hf_whisper.token_to_id("")
    assert empty is not None
    assert whisper.token_to_id("") == empty
    assert whisper.id_to_token(empty) == ""
    assert whisper.decode([40, empty, 41]) == hf_whisper.decode([40, empty, 41], False)


def test_rewrite_is_logged(logs: list[dict[str, Any]]) -> None:
    """The load logs which rewrites it applied, and why the file needed them."""
    load(REWRITE_FIXTURES / "roberta-processing")
    event = next(e for e in logs if e["event"] == "tokenizer_rewrite")
    assert event["rewrites"] == ["roberta-template"]
    assert "RobertaProcessing" in event["reason"]


def test_inspect_names_the_rewrite() -> None:
    """``inspect`` data lists the rewrite the backend serves the file after."""
    info = load(REWRITE_FIXTURES / "mistral-metaspace").describe()
    assert (info["backend"], info["rewrites"]) == ("fastokens", ["metaspace-normalizer"])


@pytest.mark.parametrize(
    ("fixture", "words"),
    [
        ("cl100k-gaps", "ids missing"),
        ("whisper-empty-token", "empty-string token"),
        ("roberta-processing", "RobertaProcessing post-processor"),
        ("mistral-metaspace", "Metaspace pre-tokenizer"),
    ],
)
def test_rewrite_off_gives_the_refusal(
    env: Any, fixture: str, words: str, logs: list[dict[str, Any]]
) -> None:
    """DYN_TOKENIZER_REWRITE=false: HF serves, and the reason names the real cause."""
    env(DYN_TOKENIZER_REWRITE="false")
    tok = ModelCard(model=str(REWRITE_FIXTURES / fixture), tokenizer="fastokens").load()
    assert (tok.backend, tok.rewrites) == ("huggingface", ())
    assert tok.fallback_reason is not None
    assert words in tok.fallback_reason
    assert "DYN_TOKENIZER_REWRITE=false" in tok.fallback_reason
    assert "model type: Other" not in tok.fallback_reason
    assert not [e for e in logs if e["event"] == "tokenizer_rewrite"]


def _unigram_file(tmp_path: Path) -> Path:
    from tokenizers import models

    tokenizer = HFTokenizer(models.Unigram([("<unk>", 0.0), ("a", -1.0), ("b", -2.0)], 0))
    path = tmp_path / "tokenizer.json"
    path.write_text(tokenizer.to_str(), encoding="utf-8")
    return path


def test_plain_words_for_models_fastokens_lacks(tmp_path: Path) -> None:
    """WordPiece and Unigram stay on HF with a reason in plain words, never 'model type Other'."""
    bert = ModelCard(model=str(FIXTURES / "bert-base-uncased"), tokenizer="fastokens").load()
    assert bert.backend == "huggingface"
    assert bert.fallback_reason == "fastokens implements BPE only; this is a WordPiece model"
    _unigram_file(tmp_path)
    for data in (json.loads(_unigram_file(tmp_path).read_text()),):
        data["model"].pop("type")  # legacy files without a type key read as Unigram too
        (tmp_path / "legacy").mkdir()
        (tmp_path / "legacy" / "tokenizer.json").write_text(json.dumps(data))
    for folder in (tmp_path, tmp_path / "legacy"):
        t5 = ModelCard(model=str(folder), tokenizer="fastokens").load()
        assert t5.backend == "huggingface"
        assert t5.fallback_reason == "fastokens implements BPE only; this is a Unigram model"


def test_regex_engine_refusal_in_plain_words(tmp_path: Path) -> None:
    """A Split pattern fastokens' PCRE2 cannot compile is named as that, not as a type."""
    data = json.loads((FIXTURES / "minimal-bpe" / "tokenizer.json").read_text())
    data["pre_tokenizer"] = {
        "type": "Split",
        "pattern": {"Regex": r"\p{^L}+"},
        "behavior": "Isolated",
        "invert": False,
    }
    (tmp_path / "tokenizer.json").write_text(json.dumps(data))
    tok = ModelCard(model=str(tmp_path), tokenizer="fastokens").load()
    assert tok.backend == "huggingface"
    assert tok.fallback_reason is not None
    assert tok.fallback_reason.startswith("fastokens' regex engine (PCRE2) cannot compile")


def test_rewrites_stack_gaps_and_a_python_normalizer(tmp_path: Path) -> None:
    """A gap vocabulary with NFKC takes both rewrites, and still gives HF's answers."""
    data = json.loads((REWRITE_FIXTURES / "cl100k-gaps" / "tokenizer.json").read_text())
    data["normalizer"] = {"type": "NFKC"}
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert_same_as_hf(load(tmp_path), path, ("vocab-gaps", "normalizer-in-python"))


def test_metaspace_first_beside_a_python_normalizer_stays_on_hf(tmp_path: Path) -> None:
    """'first' prepends by the raw offset, which a normalizer can move: no rewrite."""
    path = _metaspace_variant(tmp_path, "first", False)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["normalizer"] = {"type": "NFKC"}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    tok = ModelCard(model=str(tmp_path), tokenizer="fastokens").load()
    assert (tok.backend, tok.rewrites) == ("huggingface", ())
    assert tok.fallback_reason is not None
    assert "Metaspace pre-tokenizer" in tok.fallback_reason
