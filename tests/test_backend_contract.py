"""The backend seam: every registered backend, built-in or plugin, meets one contract.

A plugin (``tests/plugin_backend.py``, a pure-Python byte-level BPE) is registered the
way a third party registers one: a distribution on ``sys.path`` whose entry points name
its ``BackendSpec`` in the ``modelcard.backends`` group. The contract is then checked on
each registered backend alike, against HF ``tokenizers`` called directly on the same
file (the reference for tokenizer.json): ids, decode, streams, errors, pickling and
fallback.
"""

from __future__ import annotations

import json
import pickle
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import tokenizers
from pydantic import ValidationError

from modelcard import (
    BackendUnavailableError,
    InvalidTokenIdError,
    ModelCard,
    Tokenizer,
    backends,
    loader,
)

from . import plugin_backend
from .helpers import (
    chat_texts,
    code_texts,
    fixture_dir,
    multilingual_texts,
    unicode_texts,
)

#: Every backend the contract covers; a test checks that this is every registered one.
CONTRACT = ["huggingface", "fastokens", "transformers", "pybpe"]
#: Backends that load no tokenizer.json, and the module that holds their contract (ids,
#: decode, streams, bad ids, pickling against their own form's reference).
OTHER_FORMS = {"tiktoken": "tests/test_tiktoken.py"}
#: gpt2 is the file all four serve.
MODEL = "gpt2"
EventList = list[structlog.typing.EventDict]


def _write_distribution(site: Path, entry_points: str, name: str = "modelcard-test-plugin") -> None:
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n", "utf-8")
    (info / "entry_points.txt").write_text(entry_points, "utf-8")


@pytest.fixture(scope="module", autouse=True)
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The pybpe plugin installed as a distribution with an entry point, for this module."""
    site = tmp_path_factory.mktemp("site")
    _write_distribution(site, "[modelcard.backends]\npybpe = tests.plugin_backend:SPEC\n")
    sys.path.insert(0, str(site))
    backends.reload_plugins()
    yield
    sys.path.remove(str(site))
    backends.reload_plugins()
    loader.clear_cache()


def load(backend: str, name: str = MODEL, **settings: Any) -> Tokenizer:
    return ModelCard(
        model=fixture_dir(name), tokenizer=backend, tokenizer_fallback=False, **settings
    ).load()


def reference(name: str = MODEL) -> Any:
    return tokenizers.Tokenizer.from_file(str(Path(fixture_dir(name)) / "tokenizer.json"))


def texts() -> list[str]:
    picked = chat_texts()[:40] + multilingual_texts()[:8] + code_texts()[:2]
    picked += unicode_texts()[:300:10]
    return [*picked, "before <|endoftext|> after", "", " ", "\n\n\t  x"]


def test_contract_covers_every_registered_backend() -> None:
    """The contract list is exactly the registry, the entry-point plugin included."""
    assert sorted(backends.BACKENDS) == sorted([*CONTRACT, *OTHER_FORMS])
    assert backends.BACKENDS["pybpe"] is plugin_backend.SPEC


@pytest.mark.parametrize("name", CONTRACT)
def test_backend_serves_alone(name: str) -> None:
    """A card asking for a backend is encoded and decoded by that backend."""
    tok = load(name)
    assert (tok.backend, tok.decoder) == (name, name)


@pytest.mark.parametrize("name", CONTRACT)
def test_encode_matches_the_reference(name: str) -> None:
    """Ids equal HF tokenizers' on the same file, with add_special_tokens both ways."""
    tok, ref = load(name), reference()
    for add in (False, True):
        want = [e.ids for e in ref.encode_batch(texts(), add_special_tokens=add)]
        assert tok.encode_batch(texts(), add_special_tokens=add) == want
        assert [tok.encode(t, add_special_tokens=add) for t in texts()] == want
        flat = tok.encode_batch_flat(texts(), add_special_tokens=add)
        assert flat.rows() == want


@pytest.mark.parametrize("name", CONTRACT)
def test_split_special_tokens_matches_the_reference(name: str) -> None:
    """split_special_tokens gives HF's encode_special_tokens ids: no control id, text kept."""
    tok = load(name)
    ref = reference()
    ref.encode_special_tokens = True  # this test's own instance
    control = tok.token_to_id("<|endoftext|>")
    injected = [f"{t[:20]}<|endoftext|>{t[20:60]}<|endoftext|>" for t in texts()]
    for add in (False, True):
        want = [e.ids for e in ref.encode_batch(injected, add_special_tokens=add)]
        split = {"add_special_tokens": add, "split_special_tokens": True}
        assert [tok.encode(t, **split) for t in injected] == want
        assert tok.encode_batch(injected, **split) == want
        assert tok.encode_batch_flat(injected, **split).rows() == want
    assert all(control not in ids for ids in want)
    assert [tok.decode(ids) for ids in want] == injected
    assert control in tok.encode(injected[0])  # without it, the string is the control token


@pytest.mark.parametrize("name", CONTRACT)
def test_segments_keep_control_tokens_only_where_allowed(name: str) -> None:
    """encode_segments joins per-piece ids; added tokens match only in allowed pieces."""
    tok, ref = load(name), reference()
    segments = [("Hello<|endoftext|>", False), ("<|endoftext|>", True), (" wörld", False)]
    ref_split = reference()  # gpt2's one added token is special: splitting is "ordinary"
    ref_split.encode_special_tokens = True
    want = (
        ref_split.encode("Hello<|endoftext|>", add_special_tokens=False).ids
        + ref.encode("<|endoftext|>", add_special_tokens=False).ids
        + ref_split.encode(" wörld", add_special_tokens=False).ids
    )
    assert tok.encode_segments(segments) == want
    assert want.count(tok.token_to_id("<|endoftext|>")) == 1
    assert tok.decode(want) == "Hello<|endoftext|><|endoftext|> wörld"


@pytest.mark.parametrize("name", CONTRACT)
def test_decode_matches_the_reference(name: str) -> None:
    """Text equals HF's for real ids, random ids and ids past the vocabulary."""
    tok, ref = load(name), reference()
    rng = random.Random(name)
    rows = [e.ids for e in ref.encode_batch(texts(), add_special_tokens=True)]
    rows += [
        [rng.randrange(tok.vocab_size + 40) for _ in range(rng.randint(1, 30))] for _ in range(100)
    ]
    rows.append([tok.vocab_size, tok.vocab_size + 7])  # padded embedding rows: no text
    for skip in (False, True):
        want = ref.decode_batch(rows, skip_special_tokens=skip)
        assert tok.decode_batch(rows, skip_special_tokens=skip) == want
        assert [tok.decode(r, skip_special_tokens=skip) for r in rows] == want
    assert tok.decode([tok.vocab_size + 3]) == ""


@pytest.mark.parametrize("name", CONTRACT)
def test_stream_adds_up_to_the_decode(name: str) -> None:
    """Stream chunks concatenate to the one-shot decode and never hold half a character."""
    tok = load(name)
    for text in texts()[:30]:
        ids = tok.encode(text)
        for cut in {0, len(ids) // 2, max(len(ids) - 1, 0)}:
            stream = tok.decode_stream(prompt_ids=ids[:cut])
            chunks = [stream.step(i) for i in ids[cut:]]
            assert all(c is None or "\ufffd" not in c for c in chunks)
            expected = tok.decode(ids)[len(tok.decode(ids[:cut])) :]
            assert "".join(c for c in chunks if c) == expected


@pytest.mark.parametrize("name", CONTRACT)
@pytest.mark.parametrize(
    ("ids", "needle"),
    [
        pytest.param([5, -1], "Token id -1 at position 1 is negative", id="negative"),
        pytest.param([5, 2.0], "position 1 is 2.0 (float)", id="float"),
        pytest.param([True], "position 0 is True (bool)", id="bool"),
        pytest.param([2**40], "larger than any token id", id="beyond-u32"),
    ],
)
def test_bad_ids_raise_the_same_error(name: str, ids: list[Any], needle: str) -> None:
    """Every backend rejects the same bad ids with InvalidTokenIdError, in decode and streams."""
    tok = load(name)
    with pytest.raises(InvalidTokenIdError, match=re.escape(needle)):
        tok.decode(ids)
    with pytest.raises(InvalidTokenIdError, match="In sequence 1: "):
        tok.decode_batch([[1], ids])
    stream = tok.decode_stream()
    bad = next(i for i in ids if isinstance(i, (bool, float)) or not 0 <= i < 2**32)
    with pytest.raises(InvalidTokenIdError):
        stream.step(bad)
    with pytest.raises(TypeError):
        tok.encode(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", CONTRACT)
def test_pickles_as_its_card(name: str) -> None:
    """A tokenizer pickles as its card and comes back with the same backend and ids."""
    tok = load(name)
    clone = pickle.loads(pickle.dumps(tok))
    assert (clone.backend, clone.decoder) == (tok.backend, tok.decoder)
    assert clone.encode("Hello world, 日本") == tok.encode("Hello world, 日本")


def test_plugin_failure_on_one_input_is_served_by_the_reference(logs: EventList) -> None:
    """An input the plugin raises on is encoded by HF, counted and logged once."""
    tok = ModelCard(model=fixture_dir(MODEL), tokenizer="pybpe").load()
    long_text = "word " * (plugin_backend.MAX_CHARS // 4)
    assert tok.encode(long_text) == reference().encode(long_text, add_special_tokens=False).ids
    assert tok.encode_fallbacks == 1
    [event] = [e for e in logs if e["event"] == "encode_fallback"]
    assert (event["requested"], event["selected"]) == ("pybpe", "huggingface")
    assert "limited to" in event["reason"]


def test_plugin_failure_in_strict_mode_names_the_fix() -> None:
    """With fallback off, the plugin's failure is an EncodeError naming the setting."""
    tok = load("pybpe")
    with pytest.raises(ValueError, match="DYN_TOKENIZER_FALLBACK=true"):
        tok.encode("word " * plugin_backend.MAX_CHARS)


def test_plugin_refusal_falls_back_at_load(logs: EventList) -> None:
    """A file the plugin refuses is served by the reference, with the plugin's reason."""
    tok = ModelCard(model=fixture_dir("minimal-bpe-punct"), tokenizer="python-bpe").load()
    assert tok.backend == "huggingface"
    [event] = [e for e in logs if e["event"] == "tokenizer_fallback"]
    assert event["requested"] == "pybpe"
    assert "GPT-2-style" in event["reason"]
    with pytest.raises(BackendUnavailableError) as info:
        load("pybpe", "minimal-bpe-punct")
    assert info.value.reason == "pybpe serves GPT-2-style byte-level BPE files only"


def test_plugin_can_be_the_decoder() -> None:
    """DYN_DECODER may name a plugin: fastokens encodes, the plugin decodes."""
    tok = load("fastokens", decoder="pybpe")
    assert (tok.backend, tok.decoder) == ("fastokens", "pybpe")
    ids = tok.encode("Héllo wörld")
    assert tok.decode(ids) == reference().decode(ids, skip_special_tokens=False)


def test_unknown_names_list_the_plugins() -> None:
    """An unknown DYN_TOKENIZER or DYN_DECODER is rejected listing every name, plugins too."""
    for field in ("tokenizer", "decoder"):
        with pytest.raises(ValidationError) as info:
            ModelCard(model="x/y", **{field: "pybep"})
        message = str(info.value)
        assert "Did you mean 'pybpe'?" in message
        assert "pybpe (aliases: python-bpe)" in message
        assert f"DYN_{field.upper()}" in message


def test_a_plugin_that_fails_to_import_is_skipped_with_one_warning(
    tmp_path: Path, logs: EventList
) -> None:
    """A broken entry point gives one warning naming it; the built-ins and good plugins work."""
    _write_distribution(
        tmp_path,
        "[modelcard.backends]\nbroken = tests.no_such_module:SPEC\n"
        "dupe = tests.plugin_backend:SPEC\n",
        name="modelcard-broken-plugin",
    )
    sys.path.insert(0, str(tmp_path))
    try:
        backends.reload_plugins()
        failures = [e for e in logs if e["event"] == "backend_plugin_failed"]
        assert len(failures) == 2
        broken, taken = sorted(failures, key=lambda e: "taken" in e["reason"])
        assert broken["entry_point"] == "broken = tests.no_such_module:SPEC"
        assert "ModuleNotFoundError" in broken["reason"]
        # Two entry points name the same spec: whichever is found second is refused.
        assert taken["entry_point"].endswith("= tests.plugin_backend:SPEC")
        assert "the name 'pybpe' is taken" in taken["reason"]
        assert load("fastokens").encode("Hello world") == [15496, 995]
        assert "pybpe" in backends.BACKENDS
    finally:
        sys.path.remove(str(tmp_path))
        backends.reload_plugins()


def test_fastokens_card_never_imports_hf_tokenizers(tmp_path: Path) -> None:
    """Load, encode, decode and stream on a fastokens card leave tokenizers unimported."""
    import subprocess

    code = (
        "import sys\n"
        "from modelcard import ModelCard\n"
        f"tok = ModelCard(model={fixture_dir('qwen2.5')!r}, tokenizer='fastokens').load()\n"
        "ids = tok.encode('Hello wörld 👍')\n"
        "assert tok.decode(ids) == 'Hello wörld 👍'\n"
        "assert tok.decode_batch([ids]) == ['Hello wörld 👍']\n"
        "stream = tok.decode_stream(ids[:1])\n"
        "assert ''.join(c for c in map(stream.step, ids[1:]) if c) == ' wörld 👍'\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tokenizers', 'transformers'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json\n" + code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert json.loads(out.stdout) == []
