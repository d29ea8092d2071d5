"""Chat content stays text: only the template's own control tokens become control ids.

A chat template writes the model's control tokens (``<|im_start|>``, ``<|eot_id|>``...)
around content it copies from the caller. Encoding the rendered prompt as one string
(what transformers' ``apply_chat_template(tokenize=True)`` does) matches a control token
wherever its string appears, so a message that contains ``<|im_end|>`` forges a turn.

The boundary is drawn before rendering:

1. Every string in the messages, tools and documents (content, tool-call arguments, tool
   results, roles, names, any nested value) is searched for the tokenizer's *special*
   added tokens, case-insensitively. Conversations with none, nearly all of them, are
   rendered once and encoded as one string: exactly transformers' ids.
2. Otherwise each distinct match is replaced by one private-use character found nowhere
   in the input or the template, and the conversation is rendered with those in place.
   Every special-token match in that rendering is the template's own. The rendering is
   split there (with the tokens' ``lstrip``/``rstrip``/``single_word`` rules, as HF
   tokenizers splits), the placeholders are put back (also where ``tojson`` escaped
   them), and the pieces between control tokens are encoded with special-token
   matching off, the control tokens as their ids.
3. The restored text must be the plain rendering, byte for byte. When the template
   transformed the placeholders in a way that cannot be mapped back (``|lower``, slicing
   across one, ``|length``), the plain rendering is used if it holds no control token the
   placeholder rendering did not; otherwise :class:`~modelcard.errors.ChatContentError`.

Non-special added tokens (Qwen3's ``<think>``, ``<tool_call>``) are vocabulary, not
control: they match in content as in transformers.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ChatContentError

__all__ = ["AddedToken", "ControlTokens", "Masked", "read_added_tokens"]

#: Rust's ``char::is_whitespace`` (Unicode White_Space), which lstrip/rstrip eat.
_WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WORD = re.compile(r"\w")
#: Private-use code points for placeholders: the BMP's area, then plane 15's.
_PRIVATE = (range(0xE000, 0xF900), range(0xF0000, 0xFFFFE))


@dataclass(frozen=True)
class AddedToken:
    """One entry of ``added_tokens`` in tokenizer.json."""

    id: int
    content: str
    special: bool = False
    lstrip: bool = False
    rstrip: bool = False
    single_word: bool = False


def read_added_tokens(data: bytes) -> tuple[AddedToken, ...]:
    """The ``added_tokens`` of a tokenizer.json, without parsing its (large) model."""
    found = re.search(rb'"added_tokens"\s*:\s*', data)
    model = data.find(b'"model"')
    document: Any = None
    if found is not None and (model < 0 or found.start() < model):
        try:
            document, _ = json.JSONDecoder().raw_decode(data[found.end() :].decode("utf-8"))
        except ValueError:
            document = None
    if not isinstance(document, list):
        try:
            document = json.loads(data).get("added_tokens")
        except (ValueError, AttributeError):
            return ()
    tokens = []
    for entry in document or ():
        if isinstance(entry, dict) and isinstance(entry.get("content"), str) and entry["content"]:
            tokens.append(
                AddedToken(
                    id=int(entry.get("id", -1)),
                    content=entry["content"],
                    special=bool(entry.get("special", False)),
                    lstrip=bool(entry.get("lstrip", False)),
                    rstrip=bool(entry.get("rstrip", False)),
                    single_word=bool(entry.get("single_word", False)),
                )
            )
    return tuple(tokens)


def _alternation(contents: Iterable[str]) -> str:
    # Longest first: at one position the longest token wins, as HF's leftmost-longest.
    return "|".join(re.escape(c) for c in sorted(set(contents), key=lambda c: (-len(c), c)))


@dataclass
class Masked:
    """Untrusted values with their special-token strings replaced by placeholders."""

    chat: Any
    tools: Any
    documents: Any
    #: placeholder -> the original string.
    originals: dict[str, str]
    #: The :class:`ControlTokens` level that was masked.
    level: str = "strict"
    #: Originals that are non-special added tokens: text holding one must be encoded
    #: with no added token matching at all.
    vocabulary: set[str] = field(default_factory=set)

    def restore(self, text: str) -> str:
        """``text`` with every placeholder (raw or as a JSON ``\\uXXXX`` escape) put back."""
        for placeholder, original in self.originals.items():
            if placeholder in text:
                text = text.replace(placeholder, original)
            code = ord(placeholder)
            if code <= 0xFFFF:
                escapes = [f"\\u{code:04x}", f"\\u{code:04X}"]
            else:  # tojson writes astral characters as a surrogate pair
                pair = json.dumps(placeholder)[1:-1]
                escapes = [pair, pair.upper().replace("\\U", "\\u")]
            for escape in escapes:
                if escape in text:
                    text = text.replace(escape, json.dumps(original)[1:-1])
        return text


class ControlTokens:
    """The control tokens of one tokenizer and template: where a rendering splits, what
    content may not hold.

    ``strict`` controls are the special added tokens and the added tokens the template
    writes itself (DeepSeek-V3 marks its turn tokens non-special, Qwen3 its
    ``<tool_call>``); the ``special`` level is the special added tokens alone.
    """

    def __init__(self, tokens: Sequence[AddedToken], template: str) -> None:
        self.by_content = {t.content: t for t in tokens}
        special = {t.content for t in tokens if t.special}
        written = {t.content for t in tokens if not t.special and t.content in template}
        self.levels: dict[str, frozenset[str]] = {
            "strict": frozenset(special | written),
            "special": frozenset(special),
        }
        self._detect = {
            level: re.compile(_alternation(contents), re.IGNORECASE)
            for level, contents in self.levels.items()
            if contents
        }
        self._find = re.compile(_alternation(self.by_content)) if tokens else None

    def __bool__(self) -> bool:
        return bool(self._detect)

    # -- before rendering ---------------------------------------------------------------

    def mask(
        self, chat: Any, tools: Any, documents: Any, context: Iterable[str], level: str
    ) -> Masked | None:
        """Placeholders for the control-token strings (of ``level``) in the untrusted
        values; None when they hold none (the conversation needs no guarding)."""
        detect = self._detect.get(level)
        if detect is None:
            return None
        found: list[str] = []
        for text in _strings((chat, tools, documents)):
            found.extend(match.group(0) for match in detect.finditer(text))
        if not found:
            return None
        taken = "".join([*_strings((chat, tools, documents)), *context])
        originals: dict[str, str] = {}
        fresh = (chr(c) for block in _PRIVATE for c in block if chr(c) not in taken)
        placeholders: dict[str, str] = {}
        for original in dict.fromkeys(found):
            placeholder = next(fresh, None)
            if placeholder is None:
                raise ChatContentError(
                    "The conversation uses every private-use character, so modelcard cannot "
                    "mark its special-token strings; pass trust_content=True if you trust it."
                )
            placeholders[original] = placeholder
            originals[placeholder] = original

        def swap(match: re.Match[str]) -> str:
            return placeholders[match.group(0)]

        def walk(value: Any) -> Any:
            if isinstance(value, str):
                return detect.sub(swap, value)
            if isinstance(value, dict):
                return {walk(k): walk(v) for k, v in value.items()}
            if isinstance(value, list):
                return [walk(v) for v in value]
            if isinstance(value, tuple):
                return tuple(walk(v) for v in value)
            return value

        vocabulary = {o for o in originals.values() if o not in self.levels["special"]}
        return Masked(walk(chat), walk(tools), walk(documents), originals, level, vocabulary)

    # -- after rendering ----------------------------------------------------------------

    def split(self, text: str, level: str) -> list[tuple[str, int | None]]:
        """``text`` as pieces: ``(span, id)`` for each control token (of ``level``) that HF
        tokenizers would match there (the whitespace lstrip/rstrip take included),
        ``(text, None)`` between."""
        find = self._find
        if find is None:
            return [(text, None)] if text else []
        controls = self.levels[level]
        pieces: list[tuple[str, int | None]] = []
        done = 0
        for match in find.finditer(text):
            start, stop = match.span()
            if start < done:
                continue
            token = self.by_content[match.group(0)]
            if token.content not in controls:
                continue  # vocabulary: the piece's own encode matches it
            if token.single_word and (
                (start > 0 and _WORD.match(text[start - 1]))
                or (stop < len(text) and _WORD.match(text[stop]))
            ):
                continue
            if token.lstrip:
                while start > done and text[start - 1] in _WHITESPACE:
                    start -= 1
            if token.rstrip:
                while stop < len(text) and text[stop] in _WHITESPACE:
                    stop += 1
            if done < start:
                pieces.append((text[done:start], None))
            pieces.append((text[start:stop], token.id))
            done = stop
        if done < len(text):
            pieces.append((text[done:], None))
        return pieces

    def count(self, text: str, level: str) -> Counter[int]:
        """How many times each control id (of ``level``) would be matched in ``text``."""
        return Counter(i for _, i in self.split(text, level) if i is not None)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def guarded_ids(
    controls: ControlTokens,
    masked: Masked,
    guarded: str,
    rendered: str,
    encode_texts: Callable[[list[str]], list[list[int]]],
    encode_ordinary: Callable[[str], list[int]],
) -> list[int] | None:
    """Ids of a conversation rendered with placeholders (``guarded``): the template's
    control tokens as ids, everything else as text. None when the restored text is not
    ``rendered`` (the plain rendering)."""
    pieces = controls.split(guarded, masked.level)
    restored = [(masked.restore(text) if i is None else text, i) for text, i in pieces]
    if "".join(text for text, _ in restored) != rendered:
        return None
    vocabulary = masked.vocabulary
    texts = [
        text
        for (text, i), (raw, _) in zip(restored, pieces, strict=True)
        if i is None and not (vocabulary and _holds(raw, masked, vocabulary))
    ]
    encoded = iter(encode_texts(texts) if texts else [])
    ids: list[int] = []
    for (text, token_id), (raw, _) in zip(restored, pieces, strict=True):
        if token_id is not None:
            ids.append(token_id)
        elif vocabulary and _holds(raw, masked, vocabulary):
            ids += encode_ordinary(text)
        else:
            ids += next(encoded)
    return ids


def _holds(raw: str, masked: Masked, vocabulary: set[str]) -> bool:
    """Whether ``raw`` (a piece before restoring) holds a placeholder of ``vocabulary``."""
    return any(
        original in vocabulary and (p in raw or f"\\u{ord(p):04x}" in raw.lower())
        for p, original in masked.originals.items()
    )


def forged(controls: ControlTokens, masked: Masked, guarded: str, rendered: str) -> Counter[int]:
    """Control ids in the plain rendering beyond those the template wrote itself."""
    return controls.count(rendered, masked.level) - controls.count(guarded, masked.level)


def unmappable_error(extra: Counter[int]) -> ChatContentError:
    return ChatContentError(
        "The chat template transforms message content in a way modelcard cannot follow "
        "(the special-token strings in the content no longer line up with what it "
        "rendered), and the rendering holds control tokens the template did not write "
        f"itself (ids {dict(extra)}). Remove special-token strings from the content, or "
        "pass trust_content=True (--trust-content) if you trust it."
    )
