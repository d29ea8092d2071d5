"""Chat content stays text: only the template's own control tokens become control ids.

A chat template writes the model's control tokens (``<|im_start|>``, ``<|eot_id|>``...)
around content it copies from the caller. Encoding the rendered prompt as one string
(what transformers' ``apply_chat_template(tokenize=True)`` does) matches a control token
wherever its string appears, so a message that contains ``<|im_end|>`` forges a turn.

Control tokens are the special added tokens plus the added tokens the template spells
itself (level ``strict``); level ``special`` is the special ones alone. The boundary is
drawn before rendering:

1. Every string in the messages, tools and documents is searched for control-token
   strings, case-insensitively. Conversations with none, nearly all of them, are
   rendered once and encoded as one string: exactly transformers' ids.
2. Otherwise each distinct match is replaced by one private-use character found nowhere
   in the input or the template, and the conversation is rendered with those in place.
   Every control-token match in that rendering is the template's own. The rendering is
   split there (with the tokens' ``lstrip``/``rstrip``/``single_word`` rules, as HF
   tokenizers splits), the placeholders are put back (also where ``tojson`` escaped
   them), and the pieces between are encoded with special-token matching off, the
   control tokens as their ids. A piece whose encoding still holds a control id has its
   injected strings spelled one character at a time.
3. The restored text must be the plain rendering, byte for byte. When it is not (the
   template read or changed the content around the token: Qwen3 splits reasoning on
   ``</think>``, ``|lower``), ``strict`` is retried as ``special``; then the plain
   rendering is used if it holds no control token the placeholder rendering did not;
   otherwise :class:`~modelcard.errors.ChatContentError`.

See docs/chat-safety.md.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .backends.added_split import AddedToken
from .errors import ChatContentError

__all__ = [
    "AddedToken",
    "ControlTokens",
    "Masked",
    "forged",
    "guarded_ids",
    "read_added_tokens",
    "unmappable_error",
]

#: Rust's ``char::is_whitespace`` (Unicode White_Space), which lstrip/rstrip eat.
_WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WORD = re.compile(r"\w")
#: Private-use code points for placeholders: the BMP's area, then plane 15's.
_PRIVATE = (range(0xE000, 0xF900), range(0xF0000, 0xFFFFE))


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
            tokens.append(AddedToken.from_json({"id": -1, **entry}))
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
    _forms: dict[str, str] = field(default_factory=dict)
    _pattern: re.Pattern[str] | None = None

    def segments(self, text: str) -> list[tuple[str, bool]]:
        """``text`` with the placeholders put back (raw, or as the JSON ``\\uXXXX`` escape
        ``tojson`` writes), as ``(text, injected)`` runs."""
        if not self.originals:
            return [(text, False)] if text else []
        if self._pattern is None:
            for placeholder, original in self.originals.items():
                self._forms[placeholder] = original
                escaped = json.dumps(placeholder)[1:-1]  # \uXXXX, a surrogate pair if astral
                if escaped != placeholder:
                    self._forms[escaped.lower()] = json.dumps(original)[1:-1]
            alternatives = "|".join(re.escape(f) for f in self._forms)
            self._pattern = re.compile(alternatives, re.IGNORECASE)
        pattern, forms = self._pattern, self._forms
        out: list[tuple[str, bool]] = []
        done = 0
        for match in pattern.finditer(text):
            if done < match.start():
                out.append((text[done : match.start()], False))
            out.append((forms[match.group(0).lower()], True))
            done = match.end()
        if done < len(text):
            out.append((text[done:], False))
        return out


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
        untrusted = (chat, tools, documents)
        if not _any_match(detect, untrusted):
            return None
        texts = list(_strings(untrusted))
        found = [match.group(0) for text in texts for match in detect.finditer(text)]
        if not found:
            return None
        taken = "".join([*texts, *context])
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


def _any_match(pattern: re.Pattern[str], value: Any) -> bool:
    """Whether any string in ``value`` (keys included) matches: the hot path of every
    guarded conversation, so a loop, not a recursive generator."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            if pattern.search(item) is not None:
                return True
        elif kind is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif isinstance(item, str):
            stack.append(str.__str__(item))
    return False


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
    unk_id: int | None = None,
) -> list[int] | None:
    """Ids of a conversation rendered with placeholders (``guarded``): the template's
    control tokens as ids, everything else as text. None when the restored text is not
    ``rendered`` (the plain rendering). ``unk_id`` is the tokenizer's unknown token,
    which text may give without forging anything."""
    pieces = controls.split(guarded, masked.level)
    runs = [masked.segments(text) if i is None else [] for text, i in pieces]
    restored = [
        "".join(t for t, _ in r) if i is None else text
        for r, (text, i) in zip(runs, pieces, strict=True)
    ]
    if "".join(restored) != rendered:
        return None
    control_ids = {controls.by_content[c].id for c in controls.levels[masked.level]} - {unk_id}
    vocabulary = masked.vocabulary

    def ordinary(run: list[tuple[str, bool]]) -> bool:
        # A non-special added token from content must not match as vocabulary either.
        return any(injected and text in vocabulary for text, injected in run)

    plain = [
        text
        for text, run, (_, i) in zip(restored, runs, pieces, strict=True)
        if i is None and not ordinary(run)
    ]
    encoded = iter(encode_texts(plain) if plain else [])
    ids: list[int] = []
    for text, run, (_, token_id) in zip(restored, runs, pieces, strict=True):
        if token_id is not None:
            ids.append(token_id)
            continue
        piece = encode_ordinary(text) if ordinary(run) else next(encoded)
        if any(injected for _, injected in run) and not control_ids.isdisjoint(piece):
            piece = _spelled(run, encode_texts, control_ids)
        ids += piece
    return ids


def _spelled(
    run: list[tuple[str, bool]],
    encode_texts: Callable[[list[str]], list[list[int]]],
    control_ids: set[int],
) -> list[int]:
    """A piece whose text encoding still holds a control id (its vocabulary makes the
    token from plain characters, as Gemma-style files can): the injected strings one
    character at a time."""
    texts: list[str] = []
    for text, injected in run:
        texts.extend(text if injected else [text])
    ids = [i for row in encode_texts(texts) for i in row]
    if not control_ids.isdisjoint(ids):
        raise ChatContentError(
            "This tokenizer encodes a control-token string in message content as the "
            "control token even as text, so it cannot be kept text. Remove it from the "
            "content, or pass trust_content=True (--trust-content) if you trust it."
        )
    return ids


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
