"""decode_stream: chunks concatenate to the one-shot decode, never a partial character."""

from __future__ import annotations

import pytest

from modelcard import InvalidTokenIdError, Tokenizer

from .helpers import chat_texts, loaded, multilingual_texts, unicode_texts

BACKENDS = ["default", "fastokens"]
STREAM_TOKENIZERS = [
    "gpt2",
    "mixtral-8x22b",
    "qwen2.5",
    "phi-3-mini",
    "bert-base-uncased",
    "tiny-gemma-cropped-torchtune",
]
TRICKY = [
    "Hello, world!",
    "日本語のテキストと中文字符",
    "emoji 👩‍👩‍👧‍👦 family 🇫🇷 flag 👍🏽 tone",
    "Ünïcödé ñ ç ø å ß ẞ",
    "mixed русский עברית العربية हिन्दी",
    "tabs\tand\nnewlines\r\n  spaces   ",
    "\U0001d544\U0001d552\U0001d565\U0001d559 \U0001d4ae\U0001d4b8 and \U0001f004 \U0001f0a1",
]


def stream_text(tok: Tokenizer, prompt: list[int], continuation: list[int]) -> str:
    stream = tok.decode_stream(prompt_ids=prompt)
    chunks = [stream.step(i) for i in continuation]
    for chunk in chunks:
        assert chunk is None or "\ufffd" not in chunk
    return "".join(c for c in chunks if c is not None)


def check(tok: Tokenizer, text: str) -> None:
    ids = tok.encode(text)
    for cut in (0, len(ids) // 3, len(ids) - 1):
        if cut < 0:
            continue
        prompt, continuation = ids[:cut], ids[cut:]
        expected = tok.decode(prompt + continuation)[len(tok.decode(prompt)) :]
        assert stream_text(tok, prompt, continuation) == expected, (text[:40], cut)


@pytest.mark.parametrize("name", STREAM_TOKENIZERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_stream_equals_one_shot_decode(name: str, backend: str) -> None:
    """Dynamo's stream check on multibyte and byte-fallback text: chunks add up to decode."""
    tok = loaded(name, backend if name != "bert-base-uncased" else "default")
    for text in TRICKY + multilingual_texts()[:6] + unicode_texts()[:200:7]:
        check(tok, text)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stream_on_chat_text(backend: str) -> None:
    """Real chat answers stream to exactly their decode."""
    tok = loaded("qwen2.5", backend)
    for text in chat_texts()[:30]:
        check(tok, text)


def test_byte_fallback_characters_wait_until_complete() -> None:
    """A character split over byte-fallback tokens is held back until its last byte."""
    tok = loaded("mixtral-8x22b", "fastokens")
    ids = tok.encode("🀄")
    assert len(ids) > 2  # spelled as several <0x..> byte tokens
    stream = tok.decode_stream()
    chunks = [stream.step(i) for i in ids]
    assert chunks[:-1] == [None] * (len(ids) - 1)
    assert chunks[-1] is not None
    assert chunks[-1].endswith("🀄")


def test_stream_rejects_bad_ids_and_continues() -> None:
    """Bad ids raise InvalidTokenIdError, padded-vocabulary ids add nothing; the stream goes on."""
    tok = loaded("gpt2", "fastokens")
    ids = tok.encode("Hello world, again")
    stream = tok.decode_stream()
    out = [stream.step(ids[0])]
    with pytest.raises(InvalidTokenIdError):
        stream.step(-3)
    with pytest.raises(InvalidTokenIdError):
        stream.step(2.0)  # type: ignore[arg-type]
    assert stream.step(tok.vocab_size + 5) is None
    out += [stream.step(i) for i in ids[1:]]
    assert "".join(c for c in out if c) == "Hello world, again"


def test_stream_prompt_ids_are_validated() -> None:
    """Bad prompt ids fail when the stream is created."""
    tok = loaded("gpt2", "default")
    with pytest.raises(InvalidTokenIdError):
        tok.decode_stream(prompt_ids=[1, -1])


def test_skip_special_tokens_in_stream() -> None:
    """With skip_special_tokens, special tokens produce no text in the stream."""
    tok = loaded("qwen2.5", "fastokens")
    ids = tok.encode("hi<|im_end|>there")
    stream = tok.decode_stream(skip_special_tokens=True)
    assert "".join(c for c in (stream.step(i) for i in ids) if c) == "hithere"


@pytest.mark.parametrize("name", ["gpt2", "mixtral-8x22b", "qwen2.5"])
def test_prompt_ending_inside_a_character(name: str) -> None:
    """A prompt cut in the middle of a multibyte character streams the rest exactly once.

    HF's own DecodeStream repeats the whole prompt text in this case; modelcard must not.
    """
    tok = loaded(name, "fastokens")
    text = "日本語のテキスト 🀄 and 👍🏽"
    ids = tok.encode(text)
    mid_character_cuts = 0
    for cut in range(1, len(ids)):
        prompt, continuation = ids[:cut], ids[cut:]
        mid_character_cuts += tok.decode(prompt).endswith("\ufffd")
        expected = tok.decode(ids)[len(tok.decode(prompt)) :]
        assert stream_text(tok, prompt, continuation) == expected, cut
    assert mid_character_cuts > 0


@pytest.mark.parametrize("name", ["qwen2.5", "mixtral-8x22b", "bert-base-uncased", "gpt2"])
def test_long_prompt_context(name: str) -> None:
    """With a prompt of thousands of tokens, the stream still adds up to the full decode."""
    tok = loaded(name, "default")
    text = "\n".join(multilingual_texts()[:3]) + "\n" + chat_texts()[3]
    ids = tok.encode(text)
    assert len(ids) > 2000
    for cut in (len(ids) // 2, len(ids) - 40, len(ids) - 7):
        prompt, continuation = ids[:cut], ids[cut:]
        expected = tok.decode(ids)[len(tok.decode(prompt)) :]
        assert stream_text(tok, prompt, continuation) == expected, cut
