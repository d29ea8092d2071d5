"""The Python added-token split (normalizer-in-python, metaspace-in-python) cuts texts as
HF ``tokenizers`` does: leftmost-longest, single_word, lstrip/rstrip, normalized and raw
tokens, special tokens dropped under split_special_tokens. The reference is HF
``tokenizers`` on the same file; the texts are random mixes of the tokens' contents,
their prefixes, compatibility forms, word characters, marks and Unicode whitespace."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from tokenizers import Tokenizer as HFTokenizer

from modelcard import ModelCard
from modelcard.backends.added_split import AddedSplit, AddedToken

from .helpers import FIXTURES

BASES = {
    "qwen2.5-nfkc": FIXTURES / "rewrites" / "qwen2.5-nfkc" / "tokenizer.json",
    "mistral-always": FIXTURES / "rewrites" / "mistral-metaspace" / "tokenizer.json",
}

#: (content, flags): every flag combination that changes matching, on contents that
#: overlap, nest and normalize.
TOKENS: list[tuple[str, dict[str, bool]]] = [
    ("<|im", {}),  # a prefix of the special <|im_start|>, not normalized
    ("<mask>", {"special": True, "lstrip": True, "rstrip": True}),
    ("[SEP]", {"special": True, "single_word": True}),
    ("ﬁx", {"normalized": True}),  # NFKC: 'fix', so the text 'fix' matches it too
    ("Word", {"normalized": True, "single_word": True}),
    (" spaced", {"normalized": True, "lstrip": True}),
    ("<\uff21>", {"special": True, "normalized": True}),
    ("_tok", {"rstrip": True, "single_word": True}),
    ("qzx", {"normalized": False}),
    ("qzxv", {"normalized": False}),
]

PIECES = [
    "<|im_start|>", "<|im_end|>", "<|im", "<mask>", "[SEP]", "ﬁx", "fix", "FIX", "Word",
    "word", " spaced", "spaced", "<\uff21>", "<A>", "_tok", "qzx", "qzxv", "qzxvw", "x", "é",
    "e\u0301", "\u0301", "_", "1", "²", "-", ",", " ", "  ", "\t", "\n", "\u3000", "\u2000",
    "\u00a0", "\u200d", "\x1c", "\uff1c", "\uff5c", "im_start", "日本", "🎉",
]  # fmt: skip


def _file(tmp_path: Path, base: str, tokens: list[tuple[str, dict[str, bool]]] = TOKENS) -> Path:
    """The base file with ``tokens`` added after every id it has, in tmp_path."""
    data: dict[str, Any] = json.loads(BASES[base].read_text(encoding="utf-8"))
    if base == "mistral-always":
        data["pre_tokenizer"].update(prepend_scheme="always", split=True)
        data["normalizer"] = {"type": "NFKC"}
    top = max([*data["model"]["vocab"].values(), *(t["id"] for t in data["added_tokens"])])
    for n, (content, flags) in enumerate(tokens, start=1):
        special = flags.get("special", False)
        data["added_tokens"].append(
            {
                "id": top + n,
                "content": content,
                "single_word": flags.get("single_word", False),
                "lstrip": flags.get("lstrip", False),
                "rstrip": flags.get("rstrip", False),
                "normalized": flags.get("normalized", not special),
                "special": special,
            }
        )
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(PIECES, k=rng.randint(1, 12))) for _ in range(count)]


@pytest.mark.parametrize("base", list(BASES))
def test_random_mixes_encode_as_hf(tmp_path: Path, base: str) -> None:
    """Every encode form equals HF's on 600 random mixes of overlapping added tokens."""
    path = _file(tmp_path, base)
    tok = ModelCard(model=str(tmp_path), tokenizer="fastokens", tokenizer_fallback=False).load()
    assert tok.backend == "fastokens"
    assert tok.rewrites[-1] in ("normalizer-in-python", "metaspace-in-python")
    hf = HFTokenizer.from_file(str(path))
    hf_split = HFTokenizer.from_file(str(path))
    hf_split.encode_special_tokens = True
    reference = ModelCard(model=str(tmp_path), tokenizer="huggingface").load()
    texts = _texts(seed=10, count=600)
    for add in (False, True):
        assert [tok.encode(t, add_special_tokens=add) for t in texts] == [
            hf.encode(t, add_special_tokens=add).ids for t in texts
        ]
        assert [
            tok.encode(t, add_special_tokens=add, split_special_tokens=True) for t in texts
        ] == [hf_split.encode(t, add_special_tokens=add).ids for t in texts]
    # Ordinary segments (no added token matched) against the HF backend's own.
    for text in texts[:150]:
        segments = [(text, False), ("<mask>", True), (text, True)]
        assert tok.encode_segments(segments) == reference.encode_segments(segments)


def test_split_pieces_follow_hf_rules() -> None:
    """The split on its own: lstrip/rstrip take Unicode whitespace, single_word needs
    non-word neighbours (a combining mark is a word character), a dropped special match
    is not retried shorter."""
    tokens = [
        AddedToken("<mask>", 1, special=True, normalized=False, lstrip=True, rstrip=True),
        AddedToken("[SEP]", 2, special=True, normalized=False, single_word=True),
        AddedToken("<|im_start|>", 3, special=True, normalized=False),
        AddedToken("<|im", 4, normalized=False),
    ]
    split = AddedSplit(tokens)

    def cut(text: str, **kw: bool) -> list[tuple[str, int | None]]:
        return [(p, t.id if t else None) for p, t, _ in split.split(text, **kw)]

    assert cut("a\u3000<mask>\t b") == [("a", None), ("<mask>", 1), ("b", None)]
    assert cut("x\u3000<mask>") == [("x", None), ("<mask>", 1)]
    assert cut("x [SEP] y[SEP] [SEP]\u0301") == [
        ("x ", None),
        ("[SEP]", 2),
        (" y[SEP] [SEP]\u0301", None),
    ]
    assert cut("<|im_start|>", skip_special=True) == [("<|im_start|>", None)]
    assert cut("<|im_", skip_special=True) == [("<|im", 4), ("_", None)]
    assert cut("<mask>", ordinary=True) == [("<mask>", None)]
    assert cut("") == []


def test_added_tokens_that_normalize_alike_are_refused(tmp_path: Path) -> None:
    """'ﬁx' and 'fix' both match 'fix' once normalized; which of the two HF reports is its
    automaton's internal order, so the rewrite is refused rather than guessed."""
    _file(tmp_path, "qwen2.5-nfkc", [("ﬁx", {"normalized": True}), ("fix", {"normalized": True})])
    tok = ModelCard(model=str(tmp_path), tokenizer="fastokens").load()
    assert tok.backend == "huggingface"
    assert tok.fallback_reason is not None
    assert "both match 'fix'" in tok.fallback_reason


def test_added_token_with_another_vocabulary_id_is_refused(tmp_path: Path) -> None:
    """An added token whose content the vocabulary holds under another id: HF uses the
    vocabulary's id, fastokens the entry's, so the rewrite is refused and HF serves."""
    path = _file(tmp_path, "qwen2.5-nfkc", [("ab", {"normalized": False})])
    tok = ModelCard(model=str(tmp_path), tokenizer="fastokens").load()
    assert tok.backend == "huggingface"
    assert tok.fallback_reason is not None
    assert "'ab'" in tok.fallback_reason
    hf = HFTokenizer.from_file(str(path))
    assert tok.encode("ab") == hf.encode("ab", add_special_tokens=False).ids


@pytest.mark.parametrize("form", ["NFC", "NFD", "NFKC", "NFKD"])
def test_hf_leaves_every_code_point_python_calls_normalized(form: str) -> None:
    """The normalizer's fast path skips HF for a text Python's tables call normalized; that
    is sound only if HF leaves each such code point as it is (its tables are no newer)."""
    import unicodedata

    from modelcard.backends.segmented import hf_normalizer

    hf = hf_normalizer({"type": "Sequence", "normalizers": [{"type": "Lowercase"}, {"type": form}]})
    hf_only = HFTokenizer.from_str(
        json.dumps({"version": "1.0", "normalizer": {"type": form}, "pre_tokenizer": None,
                    "added_tokens": [], "model": {"type": "BPE", "vocab": {}, "merges": []}})
    ).normalizer  # fmt: skip
    assert hf("AB") == "ab"  # a Sequence with Lowercase never takes the fast path
    chars = [
        chr(c) for c in range(0x110000)
        if not 0xD800 <= c < 0xE000 and unicodedata.is_normalized(form, chr(c))  # type: ignore[arg-type]
    ]  # fmt: skip
    assert len(chars) > 1_000_000
    joined = "\n".join(chars)  # a newline starts a new character sequence in every form
    assert hf_only.normalize_str(joined) == joined


@pytest.mark.parametrize("clean", [True, False])
@pytest.mark.parametrize("lowercase", [True, False])
def test_bert_normalizer_on_ascii_is_hf(clean: bool, lowercase: bool) -> None:
    """BertNormalizer's ASCII shortcut gives HF's result for every ASCII character and
    for random ASCII strings; a non-ASCII text goes to HF itself."""
    from modelcard.backends.segmented import hf_normalizer

    spec = {"type": "BertNormalizer", "clean_text": clean, "handle_chinese_chars": True,
            "strip_accents": None, "lowercase": lowercase}  # fmt: skip
    ours = hf_normalizer(spec)
    theirs = HFTokenizer.from_str(
        json.dumps({"version": "1.0", "normalizer": spec, "pre_tokenizer": None,
                    "added_tokens": [], "model": {"type": "BPE", "vocab": {}, "merges": []}})
    ).normalizer  # fmt: skip
    rng = random.Random(3)
    texts = [chr(c) for c in range(128)] + [
        "".join(chr(rng.randrange(128)) for _ in range(rng.randint(0, 40))) for _ in range(300)
    ]
    texts += ["Ünïcode 中文 \u3000x\u200b", "\uff21\uff22\x00\ufffd"]
    assert [ours(t) for t in texts] == [theirs.normalize_str(t) for t in texts]
