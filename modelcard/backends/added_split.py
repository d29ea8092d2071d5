"""HF ``tokenizers``' added-token split, done in Python.

Before its pre-tokenizer runs, HF cuts a text in two passes: at the added tokens that
are not ``normalized``, matched on the raw text; then, after normalizing every piece
between them, at the ``normalized`` added tokens (their contents normalized the same
way) within those pieces. Matches are leftmost-longest; a ``single_word`` token only
matches between non-word characters, ``lstrip``/``rstrip`` take the whitespace beside
the token into it, and with ``encode_special_tokens`` a special token's match is
dropped (the text stays text; no shorter token is tried there). Empty pieces are
dropped. :class:`AddedSplit` does the same, so a backend that lacks the normalizer, or
that must change each piece (Metaspace's ``always`` scheme), can be given the pieces.

"Word" and "whitespace" are those of Rust's regex crate, which HF uses: ``\\w`` is
Alphabetic, marks, decimal digits, connector punctuation and the join controls; ``\\s``
is the White_Space property.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["AddedSplit", "AddedToken", "Piece"]

#: The White_Space property (Unicode 15; unchanged since 6.3), as Rust's ``\s``.
_WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


@dataclass(frozen=True)
class AddedToken:
    """One entry of ``added_tokens``, as HF reads it."""

    content: str
    id: int
    special: bool = False
    normalized: bool = True
    lstrip: bool = False
    rstrip: bool = False
    single_word: bool = False

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> AddedToken:
        special = bool(entry.get("special", False))
        return cls(
            content=str(entry["content"]),
            id=int(entry["id"]),
            special=special,
            normalized=bool(entry.get("normalized", not special)),
            lstrip=bool(entry.get("lstrip", False)),
            rstrip=bool(entry.get("rstrip", False)),
            single_word=bool(entry.get("single_word", False)),
        )


#: One piece of a split text: its text, the added token it is (None: text to encode),
#: and its offset in the raw text (-1 when the normalizer has moved it).
Piece = tuple[str, "AddedToken | None", int]


class _Matcher:
    """Leftmost-longest literal matching of many strings (HF builds an Aho-Corasick
    automaton): an alternation tried longest first at each position is the same."""

    def __init__(self, patterns: Iterable[tuple[str, AddedToken]]) -> None:
        self.tokens: dict[str, AddedToken] = {}
        for text, token in patterns:
            other = self.tokens.setdefault(text, token)
            if other.id != token.id:
                # Which one HF's automaton reports is its internal order; not guessed.
                raise ValueError(
                    f"added tokens {other.content!r} and {token.content!r} both match {text!r}"
                )
        order = sorted(self.tokens, key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, order))) if order else None


def _word_char() -> Callable[[str], bool]:
    import regex  # Unicode properties that the re module lacks

    word = regex.compile(r"[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]")
    return lambda c: word.match(c) is not None


class AddedSplit:
    """A text's pieces between its added tokens, the pieces normalized, as HF cuts them."""

    def __init__(
        self, tokens: Iterable[AddedToken], normalize: Callable[[str], str] | None = None
    ) -> None:
        tokens = [t for t in tokens if t.content]  # HF ignores empty added tokens
        # HF's order: the special tokens, then the others, each in the file's order.
        ordered = [t for t in tokens if t.special] + [t for t in tokens if not t.special]
        self.normalize = normalize
        self._raw = _Matcher((t.content, t) for t in ordered if not t.normalized)
        self._normalized = _Matcher(
            (normalize(t.content) if normalize else t.content, t) for t in ordered if t.normalized
        )
        if "" in self._normalized.tokens:
            raise ValueError(
                f"added token {self._normalized.tokens[''].content!r} normalizes to nothing"
            )
        self._is_word = _word_char() if any(t.single_word for t in tokens) else None

    def split(
        self, text: str, *, skip_special: bool = False, ordinary: bool = False
    ) -> list[Piece]:
        """The pieces of ``text``: added tokens, and normalized text between them.

        ``skip_special`` is HF's ``encode_special_tokens``; ``ordinary`` matches no added
        token at all (the whole text is one piece, normalized)."""
        normalize = self.normalize
        first = [(0, len(text), None)] if ordinary else self._find(text, self._raw, skip_special)
        pieces: list[Piece] = []
        for start, stop, token in first:
            if token is not None:
                pieces.append((token.content, token, start))
                continue
            part = text[start:stop]
            if normalize is not None and part:
                part = normalize(part)
            if not part:
                continue
            if ordinary or self._normalized.pattern is None:
                pieces.append((part, None, start if normalize is None else -1))
                continue
            for a, b, found in self._find(part, self._normalized, skip_special):
                if found is not None:
                    pieces.append((found.content, found, -1))
                elif a < b:
                    at = start + a if normalize is None else -1
                    pieces.append((part[a:b], None, at))
        return pieces

    def _find(
        self, text: str, matcher: _Matcher, skip_special: bool
    ) -> list[tuple[int, int, AddedToken | None]]:
        """HF's ``find_matches``: spans covering ``text``, each an added token or text."""
        pattern = matcher.pattern
        if pattern is None or not text:
            return [(0, len(text), None)]
        splits: list[tuple[int, int, AddedToken | None]] = []
        done = 0
        for match in pattern.finditer(text):
            start, stop = match.span()
            token = matcher.tokens[match.group()]
            if skip_special and token.special:
                continue
            if token.single_word and not self._whole_word(text, start, stop):
                continue
            if token.lstrip:
                left = start
                while left > 0 and text[left - 1] in _WHITE_SPACE:
                    left -= 1
                start = max(left, done)
            if token.rstrip:
                while stop < len(text) and text[stop] in _WHITE_SPACE:
                    stop += 1
            if done < start:
                splits.append((done, start, None))
            splits.append((start, stop, token))
            done = stop
        if done != len(text):
            splits.append((done, len(text), None))
        return splits

    def _whole_word(self, text: str, start: int, stop: int) -> bool:
        is_word = self._is_word
        assert is_word is not None
        before = start == 0 or not is_word(text[start - 1])
        after = stop == len(text) or not is_word(text[stop])
        return before and after
