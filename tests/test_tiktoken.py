"""tiktoken ranks files: discovery, split pattern, special tokens, bad files, the hub, and
fastokens' parity with the tiktoken library built from the same parts."""

from __future__ import annotations

import base64
import json
import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import tiktoken
from pydantic import ValidationError
from tiktoken.load import load_tiktoken_bpe

from modelcard import (
    InvalidModelError,
    InvalidTokenIdError,
    ModelCard,
    TiktokenFileError,
    TiktokenPatternError,
    TokenizerLoadError,
    loader,
)
from modelcard.verify import Sample, verify

from .fakehub import FakeHub

FIXTURE = Path(__file__).parent.parent / "fixtures" / "tiktoken-cl100k-cut"
RANKS = FIXTURE / "cl100k_base.tiktoken"
TEXTS = Path(__file__).parent.parent / "fixtures" / "texts"
# cl100k_base's split regex as OpenAI publishes it (tiktoken_ext/openai_public.py).
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
    r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
# o200k_base's split regex as OpenAI publishes it (tiktoken_ext/openai_public.py).
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)  # fmt: skip
O200K = FIXTURE.parent / "tiktoken-o200k-cut"
SPECIALS = {
    "<|endoftext|>": 4096,
    "<|fim_prefix|>": 4097,
    "<|fim_middle|>": 4098,
    "<|fim_suffix|>": 4099,
    "<|endofprompt|>": 4100,
}


def _texts() -> list[str]:
    texts = [
        "Hello world! It's 12345 o'clock.\n\n  indented\tand tabs ",
        "<|endoftext|>after<|fim_prefix|> and <|endofprompt|>",
        "日本語のテキスト、中文\uff0c한국어, émigré naïve café 😀👍🏽",
        "",
    ]
    for folder in ("multilingual", "unicode"):
        for path in sorted((TEXTS / folder).glob("*.txt"))[:6]:
            texts.append(path.read_text("utf-8")[:3000])
    for line in (TEXTS / "chat-sample.jsonl").read_text("utf-8").splitlines()[:40]:
        value = json.loads(line)
        texts.append(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return texts


@pytest.fixture(scope="module")
def reference() -> tiktoken.Encoding:
    """The tiktoken library on the fixture's ranks, built here, not by modelcard."""
    return tiktoken.Encoding(
        name="cl100k-cut",
        pat_str=CL100K_PATTERN,
        mergeable_ranks=load_tiktoken_bpe(str(RANKS)),
        special_tokens=SPECIALS,
    )


def _copy(tmp_path: Path, *names: str, ranks_as: str = "cl100k_base.tiktoken") -> Path:
    shutil.copy(RANKS, tmp_path / ranks_as)
    for name in names:
        shutil.copy(FIXTURE / name, tmp_path / name)
    return tmp_path


# -- parity ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "pattern"),
    [
        pytest.param("fastokens", None, id="fastokens-preset"),
        pytest.param("fastokens", CL100K_PATTERN, id="fastokens-regex"),
        pytest.param("tiktoken", None, id="tiktoken"),
    ],
)
def test_encode_matches_the_tiktoken_library(
    backend: str, pattern: str | None, reference: tiktoken.Encoding
) -> None:
    """Both backends give the tiktoken library's ids, special-token strings as specials or as
    text, and the requested backend really serves (fastokens with its cl100k preset, and
    with the same pattern given as a regex)."""
    tok = ModelCard(
        model=str(FIXTURE), tokenizer=backend, tokenizer_fallback=False, tiktoken_pattern=pattern
    ).load()
    assert tok.backend == backend
    for text in _texts():
        expected = reference.encode(text, allowed_special="all")
        assert tok.encode(text, add_special_tokens=False) == expected
        assert tok.encode(text, add_special_tokens=True) == expected
        as_text = reference.encode(text, allowed_special=set(), disallowed_special=())
        assert tok.encode(text, split_special_tokens=True) == as_text


@pytest.mark.parametrize(
    ("backend", "pattern"),
    [
        pytest.param("fastokens", None, id="fastokens-preset"),
        pytest.param("fastokens", O200K_PATTERN, id="fastokens-regex"),
        pytest.param("tiktoken", None, id="tiktoken"),
    ],
)
def test_o200k_matches_the_tiktoken_library(backend: str, pattern: str | None) -> None:
    """o200k_base (cut to 4,096 ranks): fastokens' o200k preset, the published pattern as
    a regex, and the tiktoken backend all give the library's ids and decodes."""
    reference = tiktoken.Encoding(
        name="o200k-cut",
        pat_str=O200K_PATTERN,
        mergeable_ranks=load_tiktoken_bpe(str(O200K / "o200k_base.tiktoken")),
        special_tokens={"<|endoftext|>": 4096, "<|endofprompt|>": 4097},
    )
    tok = ModelCard(
        model=str(O200K), tokenizer=backend, tokenizer_fallback=False, tiktoken_pattern=pattern
    ).load()
    assert tok.backend == backend
    assert tok.describe()["tiktoken"]["pattern"] == (pattern or O200K_PATTERN)
    for text in [*_texts(), "CamelCaseWords and ALLCAPS'll don'T", "1234567 x/\r\n/y"]:
        expected = reference.encode(text, allowed_special="all")
        assert tok.encode(text) == expected
        as_text = reference.encode(text, allowed_special=set(), disallowed_special=())
        assert tok.encode(text, split_special_tokens=True) == as_text
        assert tok.decode(expected, skip_special_tokens=False) == reference.decode(expected)


@pytest.mark.parametrize("backend", ["fastokens", "tiktoken"])
def test_decode_and_stream_match_the_tiktoken_library(
    backend: str, reference: tiktoken.Encoding
) -> None:
    """Decodes give the library's text (special tokens kept or skipped), and a stream's
    pieces join to the decode with no piece holding half a UTF-8 character."""
    tok = ModelCard(model=str(FIXTURE), tokenizer=backend, tokenizer_fallback=False).load()
    assert tok.decoder == backend
    for text in _texts():
        ids = reference.encode(text, allowed_special="all")
        assert tok.decode(ids, skip_special_tokens=False) == reference.decode(ids)
        plain = [i for i in ids if i not in SPECIALS.values()]
        assert tok.decode(ids, skip_special_tokens=True) == reference.decode(plain)
        stream = tok.decode_stream(skip_special_tokens=False)
        pieces = [piece for piece in map(stream.step, ids[:300]) if piece]
        assert "".join(pieces) == reference.decode(ids[:300]).rstrip("\ufffd")
        assert not any("\ufffd" in piece for piece in pieces if "\ufffd" not in text)


@pytest.mark.parametrize("backend", ["fastokens", "tiktoken"])
def test_bad_ids_raise_and_ids_past_the_vocabulary_add_no_text(backend: str) -> None:
    """A negative or non-int id raises InvalidTokenIdError; an id past vocab_size adds no
    text, as for tokenizer.json cards."""
    tok = ModelCard(model=str(FIXTURE), tokenizer=backend, tokenizer_fallback=False).load()
    assert tok.vocab_size == 4101
    for bad in ([-1], [True], ["1"], [2**33]):
        with pytest.raises(InvalidTokenIdError):
            tok.decode(bad)
    assert tok.decode([39, 4101, 10**6, 301]) == tok.decode([39, 301])


@pytest.mark.parametrize("backend", ["fastokens", "tiktoken"])
def test_pickles_as_its_card(backend: str) -> None:
    """A tiktoken card's tokenizer pickles as its card and reloads the same backend."""
    tok = ModelCard(model=str(FIXTURE), tokenizer=backend, tokenizer_fallback=False).load()
    again = pickle.loads(pickle.dumps(tok))
    assert (again.backend, again.encode("hello<|endoftext|>")) == (
        backend,
        tok.encode("hello<|endoftext|>"),
    )


def test_fastokens_is_chosen_by_auto_and_verify_checks_it_against_tiktoken() -> None:
    """auto serves a tiktoken card with fastokens; verify compares it with tiktoken, 0 off."""
    assert ModelCard(model=str(FIXTURE), tokenizer="auto").load().backend == "fastokens"
    samples = [Sample(text=t, source="fixture") for t in _texts() if t]
    report = verify([ModelCard(model=str(FIXTURE))], samples)
    result = report.results[0]
    assert (result.candidate, result.reference) == ("fastokens", "tiktoken")
    assert result.texts > 30
    assert (result.encode_mismatches, result.decode_mismatches, result.stream_mismatches) == (
        0,
        0,
        0,
    )


def test_default_backend_falls_back_to_tiktoken(logs: list[dict[str, object]]) -> None:
    """HF tokenizers cannot read a ranks file: the default card serves it with tiktoken."""
    tok = ModelCard(model=str(FIXTURE)).load()
    assert tok.backend == "tiktoken"
    assert tok.fallback_reason


# -- companions and inspect --------------------------------------------------------------


def test_special_tokens_and_companions_come_from_tokenizer_config() -> None:
    """added_tokens_decoder gives the special ids; EOS, context length and chat template are
    read as for tokenizer.json."""
    tok = ModelCard(model=str(FIXTURE), tokenizer="fastokens").load()
    assert tok.encode("<|fim_middle|>") == [4098]
    assert tok.token_to_id("<|endofprompt|>") == 4100
    assert tok.eos_token_ids == (4096,)
    assert tok.context_length == 8192
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert prompt == "<|fim_prefix|>user\nhi<|endofprompt|><|fim_prefix|>assistant\n"


def test_inspect_names_the_form_file_and_pattern_source() -> None:
    """describe() says tiktoken, which file, and where the pattern came from."""
    info = ModelCard(model=str(FIXTURE), tokenizer="fastokens").load().describe()
    assert info["form"] == "tiktoken"
    assert info["tiktoken"]["file"] == str(RANKS)
    assert info["tiktoken"]["pattern_source"] == "file name (cl100k_base)"
    assert info["tiktoken"]["ranks"] == 4096


# -- discovery ------------------------------------------------------------------------


def test_tokenizer_json_wins_over_ranks_files(tmp_path: Path) -> None:
    """A directory with tokenizer.json loads it, whatever ranks files sit beside it."""
    shutil.copy(FIXTURE.parent / "minimal-bpe" / "tokenizer.json", tmp_path / "tokenizer.json")
    shutil.copy(RANKS, tmp_path / "tiktoken.model")
    shutil.copy(RANKS, tmp_path / "cl100k_base.tiktoken")
    assert ModelCard(model=str(tmp_path)).load().describe()["form"] == "tokenizer.json"


def test_tiktoken_model_wins_over_star_tiktoken(tmp_path: Path) -> None:
    """Without tokenizer.json, tiktoken.model is loaded before any *.tiktoken."""
    shutil.copy(RANKS, tmp_path / "tiktoken.model")
    shutil.copy(RANKS, tmp_path / "o200k_base.tiktoken")
    info = ModelCard(model=str(tmp_path), tiktoken_pattern="cl100k_base").load().describe()
    assert info["tiktoken"]["file"] == str(tmp_path / "tiktoken.model")


def test_a_single_star_tiktoken_is_loaded_and_a_file_path_works(tmp_path: Path) -> None:
    """One *.tiktoken in a directory is the card's file; a path to it loads it too."""
    _copy(tmp_path)
    assert ModelCard(model=str(tmp_path)).load().describe()["form"] == "tiktoken"
    tok = ModelCard(model=str(tmp_path / "cl100k_base.tiktoken")).load()
    assert tok.describe()["tiktoken"]["file"] == str(tmp_path / "cl100k_base.tiktoken")


def test_several_star_tiktoken_files_are_an_error_naming_them(tmp_path: Path) -> None:
    """Two *.tiktoken and no tokenizer.json: the error names both files."""
    shutil.copy(RANKS, tmp_path / "a.tiktoken")
    shutil.copy(RANKS, tmp_path / "b.tiktoken")
    with pytest.raises(InvalidModelError, match=r"a\.tiktoken, b\.tiktoken"):
        ModelCard(model=str(tmp_path)).load()


# -- the split pattern ----------------------------------------------------------------

DIGITS = " 12345"


def test_setting_beats_file_name(tmp_path: Path, env: object) -> None:
    """DYN_TIKTOKEN_PATTERN (an encoding name or a regex) wins over the file's name."""
    _copy(tmp_path)
    card = ModelCard(model=str(tmp_path), tiktoken_pattern=r"\p{N}| ?[^\p{N}]+")
    tok = card.load()
    assert tok.describe()["tiktoken"]["pattern_source"] == "DYN_TIKTOKEN_PATTERN (a regex)"
    assert len(tok.encode(DIGITS)) == 6  # " ", then one token per digit
    named = ModelCard(model=str(tmp_path), tiktoken_pattern="r50k_base").load()
    assert named.describe()["tiktoken"]["pattern_source"] == "DYN_TIKTOKEN_PATTERN (r50k_base)"


def test_file_name_beats_model_type(tmp_path: Path, reference: tiktoken.Encoding) -> None:
    """A file named after an encoding uses its pattern even when config.json says qwen."""
    _copy(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "qwen"}')
    tok = ModelCard(model=str(tmp_path)).load()
    assert tok.describe()["tiktoken"]["pattern_source"] == "file name (cl100k_base)"
    assert tok.encode(DIGITS) == reference.encode(DIGITS)  # digits in threes, not one by one
    assert len(reference.encode(DIGITS)) < 6


def test_model_type_table_gives_the_pattern(tmp_path: Path) -> None:
    """A tiktoken.model with config.json model_type 'qwen' gets Qwen-1's single-digit split."""
    _copy(tmp_path, ranks_as="tiktoken.model")
    (tmp_path / "config.json").write_text('{"model_type": "qwen"}')
    tok = ModelCard(model=str(tmp_path), tokenizer="fastokens").load()
    assert tok.describe()["tiktoken"]["pattern_source"] == "config.json model_type (qwen)"
    assert len(tok.encode(DIGITS)) == 6


def test_no_pattern_is_an_error_naming_the_setting(tmp_path: Path) -> None:
    """No setting, no known file name, no known model_type: the error names the setting."""
    _copy(tmp_path, ranks_as="tiktoken.model")
    (tmp_path / "config.json").write_text('{"model_type": "mystery"}')
    with pytest.raises(TiktokenPatternError, match=r"DYN_TIKTOKEN_PATTERN.*cl100k_base"):
        ModelCard(model=str(tmp_path)).load()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("cl200k_base", r"unknown tiktoken encoding.*o200k_base", id="unknown-name"),
        pytest.param("[unclosed", r"neither a tiktoken encoding name.*nor a valid regex", id="re"),
    ],
)
def test_pattern_setting_is_checked_at_construction(value: str, message: str) -> None:
    """A bad DYN_TIKTOKEN_PATTERN fails when the card is built, listing the names."""
    with pytest.raises(ValidationError, match=message):
        ModelCard(model="x", tiktoken_pattern=value)


# -- bad files ------------------------------------------------------------------------


def _ranks(*lines: str) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode()


def _b64(token: bytes) -> str:
    return base64.b64encode(token).decode()


GOOD = [f"{_b64(bytes([b]))} {b}" for b in range(256)]
NUL = _b64(b"\x00")


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        pytest.param(b"", None, "is empty", id="empty"),
        pytest.param(b"\n  \n", None, "is empty", id="blank"),
        pytest.param(_ranks(*GOOD[:3], "@@notbase64 3"), 4, "not valid base64", id="base64"),
        pytest.param(_ranks(*GOOD[:3], f"{_b64(b'ab')} 2"), 4, "listed twice", id="dup-rank"),
        pytest.param(_ranks(*GOOD[:3], f"{_b64(b'ab')} 5"), 4, "skips rank 3", id="missing"),
        pytest.param(_ranks(*GOOD[:3], f"{NUL} 3"), 4, "listed twice", id="dup-token"),
        pytest.param(_ranks(*GOOD[:2], "AAAA"), 3, "expected '<base64", id="no-rank"),
    ],
)
def test_bad_ranks_files_name_the_file_and_line(
    tmp_path: Path, body: bytes, line: int | None, message: str
) -> None:
    """Each malformed ranks file is a TiktokenFileError naming the file and the line."""
    path = tmp_path / "tiktoken.model"
    path.write_bytes(body)
    with pytest.raises(TiktokenFileError, match=message) as caught:
        ModelCard(model=str(tmp_path), tiktoken_pattern="cl100k_base").load()
    assert caught.value.path == str(path)
    assert caught.value.line == line
    assert str(path) in str(caught.value)
    if line is not None:
        assert f"line {line}" in str(caught.value)


def test_special_token_colliding_with_a_rank_is_an_error(tmp_path: Path) -> None:
    """An added token whose id is a rank names tokenizer_config.json and the token."""
    _copy(tmp_path)
    config = {"added_tokens_decoder": {"100": {"content": "<|x|>", "special": True}}}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(TiktokenFileError, match=r"'<\|x\|>' has id 100.*ranks 0-4095") as caught:
        ModelCard(model=str(tmp_path)).load()
    assert caught.value.path == str(tmp_path / "tokenizer_config.json")


# -- the hub --------------------------------------------------------------------------


def test_hub_repo_with_tiktoken_model_fetches_only_what_the_card_needs(
    fake_hub: FakeHub, reference: tiktoken.Encoding
) -> None:
    """A Kimi-style repo: tiktoken.model and the companions are downloaded, nothing else."""
    fake_hub.add_repo(
        "org/kimi-like",
        {
            "tiktoken.model": RANKS.read_bytes(),
            "tokenizer_config.json": (FIXTURE / "tokenizer_config.json").read_bytes(),
            "other.tiktoken": b"not needed",
            "model.safetensors": b"w" * 100,
        },
    )
    tok = ModelCard(
        model="org/kimi-like", tokenizer="fastokens", tiktoken_pattern="cl100k_base"
    ).load()
    assert tok.backend == "fastokens"
    text = "hello there<|endoftext|>"
    assert tok.encode(text) == reference.encode(text, allowed_special="all")
    assert fake_hub.count("GET", "tiktoken.model") == 1
    assert fake_hub.count(filename="other.tiktoken") == 0
    assert fake_hub.count(filename="model.safetensors") == 0


def test_hub_repo_with_one_star_tiktoken_is_found_by_listing(
    fake_hub: FakeHub, reference: tiktoken.Encoding
) -> None:
    """No tokenizer.json or tiktoken.model: the repo's one *.tiktoken is found and loaded."""
    fake_hub.add_repo(
        "openai/cl100k-like",
        {"cl100k_base.tiktoken": RANKS.read_bytes(), "model.safetensors": b"w" * 100},
    )
    tok = ModelCard(model="openai/cl100k-like").load()
    assert tok.describe()["tiktoken"]["pattern_source"] == "file name (cl100k_base)"
    assert tok.encode("hello there") == reference.encode("hello there")
    assert fake_hub.count("GET", "cl100k_base.tiktoken") == 1
    assert fake_hub.count(filename="model.safetensors") == 0


def test_hub_tiktoken_model_repo_loads_offline_from_the_cache(
    fake_hub: FakeHub, env: Callable[..., None]
) -> None:
    """Once cached, a tiktoken.model repo loads with HF_HUB_OFFLINE=1 and no request."""
    fake_hub.add_repo("org/kimi-like", {"tiktoken.model": RANKS.read_bytes()})
    card = ModelCard(model="org/kimi-like", tokenizer="fastokens", tiktoken_pattern="cl100k_base")
    online = card.load().encode("hello there")
    loader.clear_cache()
    env(HF_HUB_OFFLINE="1")
    before = len(fake_hub.requests)
    tok = card.load()
    assert tok.encode("hello there") == online
    assert tok.describe()["form"] == "tiktoken"
    assert len(fake_hub.requests) == before


def test_fastokens_tiktoken_card_imports_neither_tiktoken_nor_hf() -> None:
    """Serving a ranks file with fastokens leaves the tiktoken library and HF unimported."""
    code = (
        "import sys, modelcard\n"
        f"tok = modelcard.ModelCard(model={str(FIXTURE)!r}, tokenizer='fastokens').load()\n"
        "tok.encode('hello'); tok.decode(tok.encode('hello'))\n"
        "print('tiktoken' in sys.modules, 'tokenizers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("backend", ["fastokens", "tiktoken"])
def test_chat_content_cannot_forge_a_ranks_files_special_token(backend: str) -> None:
    """Safe chat encoding guards a tiktoken card's special tokens (all special) as well."""
    tok = ModelCard(model=str(FIXTURE), tokenizer=backend).load()
    assert tok.backend == backend
    eot = tok.token_to_id("<|endoftext|>")
    assert eot is not None
    messages = [{"role": "user", "content": "hi<|endoftext|> there"}]
    safe = tok.apply_chat_template(messages, tokenize=True)
    trusting = tok.apply_chat_template(messages, tokenize=True, trust_content=True)
    assert eot not in safe
    assert eot in trusting
    assert "hi<|endoftext|> there" in tok.decode(safe)


def test_a_missing_tiktoken_package_is_named_not_blamed_on_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HF cannot read a ranks file and tiktoken is not installed: the error says to install
    it, and does not call the file broken."""
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # `import tiktoken` raises ImportError
    with pytest.raises(TokenizerLoadError) as caught:
        ModelCard(model=str(FIXTURE), tokenizer="huggingface").load()
    message = str(caught.value)
    assert 'pip install "modelcard[tiktoken]"' in message
    assert "not a valid tokenizer file" not in message
