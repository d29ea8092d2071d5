"""Chat templates render byte for byte as transformers renders them, in a sandbox."""

from __future__ import annotations

import warnings
from functools import cache
from typing import Any

import pytest

from modelcard import ChatTemplateError, ModelCard, Tokenizer

from .helpers import chat_messages, fixture_dir, loaded

TEMPLATED = [
    "qwen2.5",
    "phi-3-mini",
    "tiny-gemma-cropped-torchtune",
    "minimal-bpe-chat",
    "minimal-bpe-vlm",
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city, in °C — «quoted» & <escaped>?",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "City name"}},
                "required": ["city"],
            },
        },
    }
]


@cache
def reference(name: str) -> Any:
    """transformers' tokenizer for a fixture (a test-only dependency)."""
    with warnings.catch_warnings():
        # transformers warns about optional backends (PyTorch) it does not find.
        warnings.simplefilter("ignore")
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(fixture_dir(name))


def conversations() -> list[tuple[str, list[dict[str, str]]]]:
    chats = chat_messages()
    with_system = next(c for c in chats if c[0]["role"] == "system")
    plain = [c for c in chats if c[0]["role"] != "system"]
    first_user = next(m for m in plain[0] if m["role"] == "user")
    return [
        ("single-turn", [first_user]),
        ("multi-turn", plain[1][:4]),
        ("multi-turn-long", plain[2]),
        ("multi-turn-3", plain[3][:5]),
        ("system", with_system[:3]),
        ("system-added", [{"role": "system", "content": "You are terse."}, *plain[4][:2]]),
    ]


def render_both(
    tok: Tokenizer, ref: Any, messages: list[dict[str, str]], **kwargs: Any
) -> tuple[str | Exception, str | Exception]:
    ours: str | Exception
    theirs: str | Exception
    try:
        ours = tok.apply_chat_template(messages, **kwargs)
    except ChatTemplateError as exc:
        ours = exc
    try:
        theirs = ref.apply_chat_template(messages, tokenize=False, **kwargs)
    except Exception as exc:  # transformers raises jinja's TemplateError
        theirs = exc
    return ours, theirs


@pytest.mark.parametrize("name", TEMPLATED)
@pytest.mark.parametrize("add_generation_prompt", [True, False], ids=["gen", "no-gen"])
@pytest.mark.parametrize("case", [c for c, _ in conversations()])
def test_parity_with_transformers(name: str, add_generation_prompt: bool, case: str) -> None:
    """Each fixture's template renders real ShareGPT conversations exactly as transformers does."""
    tok, ref = loaded(name, "default"), reference(name)
    messages = dict(conversations())[case]
    ours, theirs = render_both(tok, ref, messages, add_generation_prompt=add_generation_prompt)
    if isinstance(theirs, Exception):
        assert isinstance(ours, ChatTemplateError), ours
        assert str(theirs) in str(ours)
    else:
        assert ours == theirs


@pytest.mark.parametrize("name", ["qwen2.5", "minimal-bpe-chat"])
def test_parity_with_tools(name: str) -> None:
    """With tools, the tool-use template (or branch) renders as in transformers."""
    tok, ref = loaded(name, "fastokens"), reference(name)
    messages = [{"role": "user", "content": "What's the weather in Zürich?"}]
    ours, theirs = render_both(tok, ref, messages, tools=TOOLS, add_generation_prompt=True)
    assert ours == theirs
    assert "get_weather" in str(ours)
    assert "«quoted» & <escaped>" in str(ours)  # tojson keeps non-ASCII and does not HTML-escape


@pytest.mark.parametrize("backend", ["default", "fastokens"])
def test_tokenize_true_matches_transformers_ids(backend: str) -> None:
    """tokenize=True returns the ids transformers returns for Qwen2.5, through our encoder."""
    tok, ref = loaded("qwen2.5", backend), reference("qwen2.5")
    messages = conversations()[1][1]
    ours = tok.apply_chat_template(messages, tokenize=True)
    theirs = ref.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=True, return_dict=False
    )
    assert ours == list(theirs)


@pytest.mark.parametrize("name", TEMPLATED)
@pytest.mark.parametrize("backend", ["default", "fastokens"])
def test_tokenize_true_encodes_the_rendered_prompt(name: str, backend: str) -> None:
    """tokenize=True is encode(prompt) without added special tokens: the template writes them.

    (transformers 5 rebuilds Llama-family tokenizers such as Phi-3's from their slow
    settings, so its ids can differ from tokenizer.json's own pipeline; modelcard, like
    Dynamo, encodes with tokenizer.json as published.)
    """
    tok = loaded(name, backend)
    messages = [{"role": "user", "content": "Hello, world!"}]
    prompt = tok.apply_chat_template(messages)
    assert tok.apply_chat_template(messages, tokenize=True) == tok.encode(prompt)


def test_named_templates_and_default() -> None:
    """A list of named templates: 'default' is used, tools pick 'tool_use', names select."""
    tok = loaded("minimal-bpe-chat", "default")
    messages = [{"role": "user", "content": "Hi"}]
    assert tok.apply_chat_template(messages) == "<s>user: Hi</s>"
    assert tok.apply_chat_template(messages, tools=[]).startswith("<s>user: Hi<|eot|>")
    assert (
        tok.apply_chat_template(messages, chat_template="tool_use")
        == "<s>user: Hi<|eot|>assistant:"
    )
    with pytest.raises(ChatTemplateError, match=r"No chat template named 'nope'"):
        tok.apply_chat_template(messages, chat_template="nope")


def test_jinja_file_wins() -> None:
    """chat_template.jinja replaces the template in tokenizer_config.json."""
    tok = loaded("minimal-bpe-vlm", "default")
    assert tok.config.chat_template_source == "chat_template.jinja"
    prompt = tok.apply_chat_template([{"role": "user", "content": "Hello"}])
    assert prompt == "<s>User: Hello\nAssistant:"
    assert "overridden" not in prompt


def test_template_exception_becomes_chat_template_error() -> None:
    """raise_exception in a template surfaces as ChatTemplateError with the template's message."""
    tok = loaded("tiny-gemma-cropped-torchtune", "default")
    with pytest.raises(ChatTemplateError, match="System role not supported"):
        tok.apply_chat_template([{"role": "system", "content": "x"}])


def test_no_template_says_so() -> None:
    """A card without a template says so when asked to render, and how to give one."""
    tok = loaded("gpt2", "default")
    assert tok.chat_template is None
    with pytest.raises(ChatTemplateError, match=r"no chat template.*chat_template="):
        tok.apply_chat_template([{"role": "user", "content": "Hi"}])


def test_inline_template_and_kwargs() -> None:
    """An inline template can be passed, and extra keyword arguments reach it."""
    tok = loaded("minimal-bpe-chat", "default")
    template = "{{ greeting }} {{ messages[0]['content'] }}{{ eos_token }} {{ strftime_now('%Y') }}"
    out = tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}], chat_template=template, greeting="Hey"
    )
    assert out.startswith("Hey Hi</s> 2")


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("{{ ''.__class__.__mro__ }}", id="mro"),
        pytest.param("{{ ''.__class__.__mro__[1].__subclasses__() }}", id="subclasses"),
        pytest.param("{{ cycler.__init__.__globals__ }}", id="globals-via-init"),
        pytest.param("{% set ns = namespace(_x=1) %}{{ ns._x }}", id="namespace-underscore"),
        pytest.param("{{ messages.append(1) }}", id="mutate-input"),
    ],
)
def test_sandbox_refuses_python_internals(template: str) -> None:
    """A template reaching for Python internals fails with ChatTemplateError."""
    tok = loaded("minimal-bpe-chat", "default")
    with pytest.raises(ChatTemplateError, match="sandbox forbids"):
        tok.apply_chat_template([{"role": "user", "content": "x"}], chat_template=template)


@pytest.mark.parametrize(
    "template",
    [
        "{{ raise_exception.__globals__ }}",
        "{{ strftime_now.__globals__['__builtins__'] }}",
        "{{ raise_exception.__code__.co_consts }}",
        "{{ messages.__class__ }}{{ tools.__class__.__base__ }}",
    ],
)
def test_sandbox_leaks_nothing(template: str) -> None:
    """Unsafe attributes of the template's helpers render as nothing, never as Python objects."""
    tok = loaded("minimal-bpe-chat", "default")
    try:
        out = tok.apply_chat_template([{"role": "user", "content": "x"}], chat_template=template)
    except ChatTemplateError as exc:
        out = str(exc)
    for leak in ("__builtins__", "<module", "<built-in", "<class", "object at 0x", "<code"):
        assert leak not in out


def test_continue_final_message() -> None:
    """continue_final_message leaves the last message open, as transformers does."""
    tok, ref = loaded("qwen2.5", "default"), reference("qwen2.5")
    messages = [{"role": "user", "content": "Count"}, {"role": "assistant", "content": "1, 2,"}]
    ours = tok.apply_chat_template(
        messages, add_generation_prompt=False, continue_final_message=True
    )
    assert ours == ref.apply_chat_template(messages, tokenize=False, continue_final_message=True)
    assert ours.endswith("1, 2,")


def test_messages_must_be_dicts() -> None:
    """Malformed messages raise ChatTemplateError, not a jinja or type error."""
    tok = loaded("qwen2.5", "default")
    with pytest.raises(ChatTemplateError, match="list of"):
        tok.apply_chat_template("hello")  # type: ignore[arg-type]
    with pytest.raises(ChatTemplateError, match="empty conversation"):
        tok.apply_chat_template([])


def test_card_from_env_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    """A card configured through DYN_* renders the same prompt."""
    monkeypatch.setenv("DYN_MODEL", fixture_dir("phi-3-mini"))
    monkeypatch.setenv("DYN_TOKENIZER", "fastokens")
    tok = ModelCard().load()
    prompt = tok.apply_chat_template([{"role": "user", "content": "Hi"}])
    assert prompt == "<|user|>\nHi<|end|>\n<|assistant|>\n"
