"""``modelcard verify``: fastokens' ids checked against HF's, as a library call and a command.

The full shared corpus (15 tokenizers, 125,427 texts, 62M characters) is checked with::

    modelcard verify --corpus ../shared/tokenizers --texts ../shared/texts

which took 7 minutes on 2 cores (750 CPU-seconds); add ``--full-variants`` to run every
variant on whole texts. The slow test at the end runs a deterministic sample of it
(``MODELCARD_SHARED`` points elsewhere; ``-m "not slow"`` leaves it out).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from modelcard import ModelCard, Tokenizer
from modelcard.cli import main
from modelcard.verify import (
    VARIANTS,
    Sample,
    TextsError,
    TokenizerResult,
    builtin_samples,
    check as verify_module,
    find_tokenizers,
    read_texts,
    verify,
    verify_model,
)

from .helpers import FAST_TOKENIZERS, FIXTURES, TEXTS, fixture_dir, shared_dir

EXIT_MISMATCH = 1
EXIT_USAGE = 2


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["verify", *args])
    out, err = capsys.readouterr()
    return code, out, err


class Corrupted:
    """A candidate that gives the real ids, except one wrong id in texts holding ``marker``."""

    def __init__(self, real: Tokenizer, marker: str, position: int) -> None:
        self.real, self.marker, self.position = real, marker, position

    def _spoil(self, text: str, ids: list[int]) -> list[int]:
        if self.marker in text and len(ids) > self.position:
            ids = list(ids)
            ids[self.position] = (ids[self.position] + 1) % self.real.vocab_size
        return ids

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self._spoil(text, self.real.encode(text, add_special_tokens=add_special_tokens))

    def encode_batch(self, texts: Sequence[str], add_special_tokens: bool = False) -> Any:
        rows = self.real.encode_batch(texts, add_special_tokens=add_special_tokens)
        return [self._spoil(t, r) for t, r in zip(texts, rows, strict=True)]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)  # decode, streams and the vocabulary stay right


@pytest.fixture
def corrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    """verify's candidate gets token 3 wrong in every text that contains 'lazy'."""
    real_load_pair = verify_module._load_pair

    def load_pair(result: TokenizerResult, card: ModelCard, *names: str) -> Any:
        pair = real_load_pair(result, card, *names)
        if pair is not None:
            pair.candidate = Corrupted(pair.candidate, "lazy", 3)  # type: ignore[assignment]
        return pair

    monkeypatch.setattr(verify_module, "_load_pair", load_pair)


# -- the library call -----------------------------------------------------------------


#: minimal-bpe's unk_token "<unk>" is not an added token: fastokens matches it in text
#: anyway, HF spells it out (see test_unk_token_string_divergence_is_reported).
MATCHING_FIXTURES = [n for n in FAST_TOKENIZERS if n != "minimal-bpe"]


def test_bundled_fixtures_match_on_bundled_texts() -> None:
    """Every real fastokens-served fixture gives HF's ids on every bundled text and variant."""
    samples = read_texts([TEXTS])
    report = verify([fixture_dir(n) for n in MATCHING_FIXTURES], samples)
    assert report.ok, [m.describe() for r in report.results for m in r.examples]
    for result in report.results:
        assert result.status == "checked"
        assert result.mismatches == 0
        assert result.texts + result.duplicates == len(samples)
        variants = len(VARIANTS) if result.special_strings else 2
        assert result.encodes == result.texts * variants
    assert report.totals()["mismatches"] == 0


def test_special_strings_come_from_the_added_tokens() -> None:
    """Every added token of the tokenizer.json is used as a literal special-token string."""
    tokenizer_json = json.loads((FIXTURES / "qwen2.5" / "tokenizer.json").read_text("utf-8"))
    result = verify_model(fixture_dir("qwen2.5"), [Sample("s", "hello world")])
    assert result.special_strings == len(tokenizer_json["added_tokens"]) == 22
    assert result.encodes == len(VARIANTS)


def test_inserted_special_strings_are_encoded_as_special_ids() -> None:
    """The special-strings variant puts real special tokens into the text, at several places."""
    specials = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    text = verify_module._insert_specials("one two three four", specials, 0)
    assert text.startswith("<|im_start|>one two")
    assert " <|endoftext|> " in text
    ids = ModelCard(model=fixture_dir("qwen2.5")).load().encode(text)
    assert ids.count(151644) == 2  # <|im_start|>, at the start and near the end


def test_a_wrong_id_is_a_mismatch_with_its_place(corrupt: None) -> None:
    """A wrong id is reported with its text's source, the variant and the first differing token."""
    samples = [Sample("ok.txt", "Hello world"), Sample("fox.txt", "The quick brown fox, lazy dog")]
    result = verify_model(fixture_dir("gpt2"), samples)
    assert not result.ok
    assert result.mismatches == len(VARIANTS)
    first = result.examples[0]
    assert (first.source, first.variant, first.position) == ("fox.txt", "plain", 3)
    assert first.expected[:2] == first.actual[:2]  # the window starts two tokens earlier
    assert first.expected[2] != first.actual[2]
    assert first.expected_length == first.actual_length
    assert "fox" in first.excerpt
    assert "fox.txt [plain]: first difference at token 3" in first.describe()


def test_variants_after_the_first_see_the_start_of_long_texts(corrupt: None) -> None:
    """Only the plain variant sees past VARIANT_CHARS, unless variant_chars=None."""
    text = "word " * 1000 + "the lazy dog"
    assert text.index("lazy") > verify_module.VARIANT_CHARS
    capped = verify_model(fixture_dir("gpt2"), [Sample("long.txt", text)])
    assert [m.variant for m in capped.examples] == ["plain"]
    whole = verify_model(fixture_dir("gpt2"), [Sample("long.txt", text)], variant_chars=None)
    assert [m.variant for m in whole.examples] == [v for v, _, _ in VARIANTS]


def test_unk_token_string_divergence_is_reported() -> None:
    """A literal unk string in text is a real fastokens/HF difference, and verify reports it.

    minimal-bpe has ``unk_token: "<unk>"`` in its vocabulary but no added tokens. HF spells
    the text "<unk>" out as five unknown characters; fastokens matches it as one token.
    """
    samples = [Sample("hello.txt", "Hello, world!"), Sample("unk.txt", "He <unk> llo")]
    result = verify_model(fixture_dir("minimal-bpe"), samples)
    assert result.special_strings == 1  # the unk_token, inserted into every text
    plain = [m for m in result.examples if m.variant == "plain"]
    assert [(m.source, m.position) for m in plain] == [("unk.txt", 3)]
    assert plain[0].expected[:3] == [1, 0, 0]  # ' ', then '<' and 'u', unknown characters
    assert plain[0].actual[:3] == [1, 0, 1]  # ' ', '<unk>' as one token, ' '
    assert not result.ok


def test_two_different_tokenizers_do_not_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked against another tokenizer's ids, verify reports mismatches rather than passing."""

    def cards(card: ModelCard, *names: str) -> tuple[ModelCard, ModelCard]:
        other = ModelCard(model=fixture_dir("qwen2.5"), tokenizer="fastokens")
        return ModelCard(model=card.model), other

    monkeypatch.setattr(verify_module, "_cards", cards)
    result = verify_model(fixture_dir("gpt2"))
    assert result.mismatches > 0
    assert not result.ok


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("bert-base-uncased", "this is a WordPiece model"),
        ("minimal-bpe-punct", "unsupported pre-tokenizer type: Punctuation"),
    ],
)
def test_refused_file_is_a_fallback_not_a_failure(name: str, cause: str) -> None:
    """A file fastokens refuses is reported with fastokens' reason, and does not fail the check."""
    report = verify([fixture_dir(name)])
    [result] = report.results
    assert result.status == "refused"
    assert result.reason is not None
    assert cause in result.reason
    assert report.ok
    assert report.totals()["refused"] == 1


def test_per_call_failures_are_counted_apart_from_mismatches() -> None:
    """Inputs fastokens fails on are counted by reason, with an example, and are not mismatches."""
    samples = [Sample("tab.txt", "col\tumn"), Sample("plain.txt", "plain text")]
    result = verify_model(fixture_dir("tiny-bpe-torchtune"), samples)
    assert result.ok
    assert result.mismatches == 0
    reason = "model error: byte 0x09 has no token in vocabulary"
    assert result.encode_fallbacks[reason] == len(VARIANTS)
    assert result.fallback_examples[reason] == "tab.txt [plain]"


def test_unloadable_file_is_an_error(tmp_path: Path) -> None:
    """A tokenizer.json that HF cannot load fails the check, with the reason."""
    (tmp_path / "tokenizer.json").write_text('{"version": "1.0"}', encoding="utf-8")
    report = verify([str(tmp_path)])
    assert report.results[0].status == "error"
    assert "huggingface cannot load it" in (report.results[0].reason or "")
    assert not report.ok


def test_builtin_sample_covers_scripts_emoji_and_whitespace() -> None:
    """Without texts, verify checks built-in multilingual, emoji and whitespace strings."""
    sources = {s.source for s in builtin_samples()}
    assert {"builtin:chinese", "builtin:emoji", "builtin:spaces_1000", "builtin:empty"} <= sources
    result = verify_model(fixture_dir("gpt2"))
    assert result.texts == len(sources)
    assert result.ok


# -- reading texts --------------------------------------------------------------------


def test_jsonl_shapes(tmp_path: Path) -> None:
    """JSON Lines records: strings, lists, {'text'} and chats (each message plus the whole)."""
    lines = [
        json.dumps("a string"),
        json.dumps(["col 1", "col 2"]),
        json.dumps({"text": "a text", "id": 7}),
        json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"content": "Hello!"}]}),
        json.dumps({"conversations": [{"from": "human", "value": "Yo"}]}),
        "",
    ]
    (tmp_path / "t.jsonl").write_text("\n".join(lines), encoding="utf-8")
    samples = read_texts([tmp_path / "t.jsonl"])
    assert [(s.source, s.text) for s in samples] == [
        ("t.jsonl:1", "a string"),
        ("t.jsonl:2 [0]", "col 1"),
        ("t.jsonl:2 [1]", "col 2"),
        ("t.jsonl:3", "a text"),
        ("t.jsonl:4 messages[0]", "Hi"),
        ("t.jsonl:4 messages[1]", "Hello!"),
        ("t.jsonl:4 conversation", "Hi\nHello!"),
        ("t.jsonl:5 conversations[0]", "Yo"),
    ]


def test_jsonl_lines_split_on_newline_only(tmp_path: Path) -> None:
    """A raw U+2028 or U+0085 inside a JSON string does not end the line."""
    text = "line\u2028separator\u0085next\rcr"
    (tmp_path / "t.jsonl").write_text(json.dumps(text, ensure_ascii=False) + "\n", "utf-8")
    assert [s.text for s in read_texts([tmp_path / "t.jsonl"])] == [text]


def test_directories_are_read_recursively(tmp_path: Path) -> None:
    """A directory gives every file in it, by name; hidden and non-UTF-8 files are left out."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.py").write_bytes(b"print('x')\r\n")
    (tmp_path / "sub" / "a.txt").write_text("\ufeffbom kept", encoding="utf-8")
    (tmp_path / ".hidden").write_text("no", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    skipped: list[str] = []
    samples = read_texts([tmp_path], skipped)
    root = tmp_path.name
    assert [(s.source, s.text) for s in samples] == [
        (f"{root}/b.py", "print('x')\r\n"),
        (f"{root}/sub/a.txt", "\ufeffbom kept"),
    ]
    assert skipped == [f"{root}/latin1.txt"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json}\n", r"t.jsonl:1 is not valid JSON"),
        (b'{"title": "no text"}\n', r"t.jsonl:1: a record verify does not know.*'messages'"),
        (b'"ok"\n\xff\n', r"not UTF-8 text"),
    ],
    ids=["bad-json", "unknown-record", "not-utf8"],
)
def test_bad_texts_file_says_what_to_fix(tmp_path: Path, content: bytes, message: str) -> None:
    """A malformed .jsonl raises TextsError naming the file, the line and the expected shape."""
    (tmp_path / "t.jsonl").write_bytes(content)
    with pytest.raises(TextsError, match=message):
        read_texts([tmp_path / "t.jsonl"])


# -- the command ----------------------------------------------------------------------


def test_command_passes_on_a_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    """`modelcard verify --model M` prints one line per tokenizer and the totals, and exits 0."""
    code, out, _ = run(capsys, "--model", fixture_dir("gpt2"))
    assert code == 0
    assert "0 mismatches" in out
    assert out.rstrip().endswith("OK")


def test_command_full_variants(capsys: pytest.CaptureFixture[str]) -> None:
    """--full-variants runs every variant on whole texts, and says so."""
    code, out, _ = run(capsys, "--json", "--full-variants", "--model", fixture_dir("gpt2"))
    assert code == 0
    assert json.loads(out)["variant_chars"] is None
    code, out, _ = run(capsys, "--full-variants", "--model", fixture_dir("gpt2"))
    assert "all but the first on whole texts" in out.splitlines()[0]


def test_command_exits_1_on_mismatch(capsys: pytest.CaptureFixture[str], corrupt: None) -> None:
    """A mismatch makes verify exit 1 and print where it is."""
    code, out, _ = run(capsys, "--model", fixture_dir("gpt2"))
    assert code == EXIT_MISMATCH
    assert "MISMATCH" in out
    assert "builtin:english [plain]: first difference at token 3" in out
    assert out.rstrip().endswith("FAILED")


def test_command_json(capsys: pytest.CaptureFixture[str], tmp_path: Path, corrupt: None) -> None:
    """--json prints totals (tokenizers, texts, mismatches, fallbacks) and per-tokenizer results."""
    texts = tmp_path / "texts.jsonl"
    texts.write_text('"the lazy dog sleeps"\n"col\\tumn"\n', encoding="utf-8")
    corpus = tmp_path / "corpus"
    for name in ("gpt2", "tiny-bpe-torchtune", "bert-base-uncased"):
        shutil.copytree(FIXTURES / name, corpus / name)
    code, out, _ = run(capsys, "--json", "--corpus", str(corpus), "--texts", str(texts))
    assert code == EXIT_MISMATCH
    report = json.loads(out)
    assert report["ok"] is False
    assert report["variant_chars"] == verify_module.VARIANT_CHARS
    totals = report["totals"]
    assert (totals["tokenizers"], totals["checked"], totals["refused"]) == (3, 2, 1)
    assert totals["texts"] == 2
    assert totals["mismatches"] == 2 * len(VARIANTS)  # "lazy" in gpt2 and in tiny-bpe
    assert totals["encode_fallbacks"] == len(VARIANTS)  # the tab, in tiny-bpe
    by_name = {t["name"]: t for t in report["tokenizers"]}
    assert by_name["bert-base-uncased"]["status"] == "refused"
    assert "this is a WordPiece model" in by_name["bert-base-uncased"]["reason"]
    example = by_name["gpt2"]["mismatch_examples"][0]
    assert example["source"] == "texts.jsonl:1"
    assert example["position"] == 3
    reasons = by_name["tiny-bpe-torchtune"]["encode_fallback_reasons"]
    assert reasons == {"model error: byte 0x09 has no token in vocabulary": len(VARIANTS)}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "./x", "--corpus", "."], "exclude each other"),
        (["--corpus", "/nonexistent/corpus"], "not a directory"),
        (["--model", "./fixtures/gpt2", "--texts", "/nonexistent.txt"], "does not exist"),
    ],
    ids=["model-and-corpus", "missing-corpus", "missing-texts"],
)
def test_command_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Wrong arguments exit 2 with one line on stderr that says what to give instead."""
    code, out, err = run(capsys, *args)
    assert code == EXIT_USAGE
    assert out == ""
    assert message in err
    assert err.count("\n") == 1


def test_command_without_model_or_corpus(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With no model and no corpus to find, verify says how to give one."""
    monkeypatch.setenv("MODELCARD_SHARED", str(tmp_path / "absent"))
    code, _, err = run(capsys)
    assert code == EXIT_USAGE
    assert "give --model M (or set DYN_MODEL)" in err


# -- the shared corpus ----------------------------------------------------------------


def _spread(samples: list[Sample], chars: int, count: int) -> list[Sample]:
    """Evenly spaced samples, at most ``count`` of them and ``chars`` characters in all."""
    picked: list[Sample] = []
    step = max(len(samples) // count, 1)
    for start in range(step):
        for sample in samples[start::step]:
            if len(sample.text) <= chars and len(picked) < count:
                picked.append(sample)
                chars -= len(sample.text)
        if chars < 1000 or len(picked) >= count:
            break
    return picked


def corpus_sample(texts: Path, chars: int, count: int) -> list[Sample]:
    """A deterministic sample of each top-level group of the shared texts (chat, code, ...)."""
    groups: dict[str, list[Sample]] = {}
    for sample in read_texts([texts]):
        groups.setdefault(sample.source.split("/")[1].split(":")[0], []).append(sample)
    return [s for group in groups.values() for s in _spread(group, chars, count)]


@pytest.mark.slow
def test_shared_corpus_sample_has_no_mismatch() -> None:
    """Every shared tokenizer fastokens loads gives HF's ids on a sample of each text group."""
    shared = shared_dir()
    if not (shared / "tokenizers").is_dir() or not (shared / "texts").is_dir():
        pytest.skip(f"no shared corpus at {shared} (set MODELCARD_SHARED)")
    samples = corpus_sample(shared / "texts", chars=150_000, count=300)
    assert {"chat.jsonl", "code", "long", "multilingual", "adversarial.jsonl"} <= {
        s.source.split("/")[1].split(":")[0] for s in samples
    }
    folders = find_tokenizers(shared / "tokenizers")
    report = verify([str(f) for f in folders], samples, names=[f.name for f in folders])
    problems = [m.describe() for r in report.results for m in r.examples]
    problems += [f"{r.name}: {r.reason}" for r in report.results if r.status == "error"]
    assert problems == []
    assert report.ok
    assert report.totals()["checked"] >= 5
    for result in report.results:
        if result.status == "refused":
            assert result.reason
        for reason in result.encode_fallbacks:
            assert "has no token in vocabulary" in reason, (result.name, reason)


# -- any two backends -----------------------------------------------------------------


def test_reference_transformers_shows_where_transformers_differs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--reference transformers finds the ids transformers 5 changes on tiny-gemma, exit 1.

    transformers rebuilds this Gemma tokenizer from its class; tokenizer.json as published
    (what HF tokenizers and fastokens both serve) splits runs of newlines differently.
    """
    code, out, _ = run(
        capsys,
        "--model",
        fixture_dir("tiny-gemma-cropped-torchtune"),
        "--reference",
        "transformers",
    )
    assert code == EXIT_MISMATCH
    assert out.splitlines()[0].startswith("verify: fastokens vs transformers")
    assert "MISMATCH" in out
    assert "first difference at token" in out


def test_backend_and_reference_are_any_two_registered(capsys: pytest.CaptureFixture[str]) -> None:
    """--backend and --reference take any registered names, aliases included."""
    code, out, _ = run(
        capsys, "--model", fixture_dir("gpt2"), "--backend", "hf", "--reference", "fastokens"
    )
    assert code == 0
    assert out.splitlines()[0].startswith("verify: huggingface vs fastokens")


def test_unknown_backend_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --reference exits 2 and lists the registered backends."""
    code, _, err = run(capsys, "--model", fixture_dir("gpt2"), "--reference", "tiktokenz")
    assert code == EXIT_USAGE
    assert "huggingface (aliases: default, hf), fastokens, transformers" in err


class WrongDecoder:
    """A candidate whose decode drops the last character of texts containing 'lazy dog'.

    Random-id decodes can hold ' lazy' (a GPT-2 token); they never spell the sample's words.
    """

    def __init__(self, real: Tokenizer) -> None:
        self.real = real

    def decode_batch(self, rows: Sequence[Sequence[int]], skip_special_tokens: bool = False) -> Any:
        texts = self.real.decode_batch(rows, skip_special_tokens=skip_special_tokens)
        return [t[:-1] if "lazy dog" in t else t for t in texts]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_wrong_decode_is_a_decode_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decodes are compared too: a candidate that decodes wrongly fails, with the text shown."""
    real_load_pair = verify_module._load_pair

    def load_pair(result: TokenizerResult, card: ModelCard, *names: str) -> Any:
        pair = real_load_pair(result, card, *names)
        if pair is not None:
            pair.candidate = WrongDecoder(pair.candidate)  # type: ignore[assignment]
        return pair

    monkeypatch.setattr(verify_module, "_load_pair", load_pair)
    samples = [Sample("ok.txt", "Hello world"), Sample("fox.txt", "The quick brown fox, lazy dog")]
    result = verify_model(fixture_dir("gpt2"), samples)
    assert result.encode_mismatches == 0
    assert result.decode_mismatches == 4  # two decoded variants, skip_special_tokens both ways
    assert not result.ok
    mismatch = result.examples[0]
    assert (mismatch.kind, mismatch.source) == ("decode", "fox.txt [plain]")
    assert "lazy dog" in (mismatch.expected_text or "")
    assert "decode: first difference at character" in mismatch.describe()


def test_streams_are_compared() -> None:
    """Streams are checked, one text in STREAM_EVERY (every text with whole variants)."""
    samples = [Sample(f"t{i}", f"text number {i} 日本") for i in range(16)]
    some = verify_model(fixture_dir("qwen2.5"), samples)
    every = verify_model(fixture_dir("qwen2.5"), samples, variant_chars=None)
    assert some.streams == 2 * 16 // verify_module.STREAM_EVERY  # both skip values
    assert every.streams == 2 * 16
    assert some.stream_mismatches == every.stream_mismatches == 0


def test_on_error_skip_reads_past_bad_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--on-error skip leaves out a bad line, checks the rest and names what it skipped."""
    texts = tmp_path / "t.jsonl"
    texts.write_text('"good one"\n{not json\n"good two"\n', encoding="utf-8")
    code, out, err = run(capsys, "--model", fixture_dir("gpt2"), "--texts", str(texts))
    assert code == EXIT_MISMATCH
    assert "t.jsonl:2 is not valid JSON" in err
    code, out, _ = run(
        capsys, "--model", fixture_dir("gpt2"), "--texts", str(texts), "--on-error", "skip"
    )
    assert code == 0
    assert "skipped t.jsonl:2 is not valid JSON" in out
    assert "2 texts" in out


def test_progress_bar_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """--progress draws a bar on stderr; stdout keeps only the report."""
    code, out, err = run(capsys, "--model", fixture_dir("gpt2"), "--progress")
    assert code == 0
    assert "texts" in err
    assert "%" in err
    assert "\r" not in out
    assert out.rstrip().endswith("OK")
