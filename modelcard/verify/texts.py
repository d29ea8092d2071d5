"""The texts ``verify`` checks: files and directories of them, or a built-in sample.

``.jsonl`` files hold one record per line (a JSON string, a list of strings, an object
with ``text``, or a chat with ``messages``/``conversations``, whose messages are checked
one by one and joined); any other file is one text. Directories are read recursively.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TextsError

__all__ = [
    "Sample",
    "builtin_samples",
    "default_shared_dir",
    "find_tokenizers",
    "read_texts",
]


@dataclass(frozen=True)
class Sample:
    """One text to check, and where it came from (``file:line field``)."""

    source: str
    text: str


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TextsError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "verify reads UTF-8 files only: convert it (e.g. with iconv) or leave it out."
        ) from exc


def _content(value: Any) -> str | None:
    """A message's text: a string, or the text parts of an OpenAI-style content list."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [p["text"] for p in value if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "\n".join(parts) if parts else None
    return None


def _chat(where: str, key: str, messages: Any) -> list[Sample]:
    if not isinstance(messages, list):
        raise TextsError(f"{where}: '{key}' must be a list of messages.")
    out: list[Sample] = []
    for i, message in enumerate(messages):
        text = (
            _content(message.get("content", message.get("value")))
            if isinstance(message, dict)
            else None
        )
        if text is not None:
            out.append(Sample(f"{where} {key}[{i}]", text))
    if len(out) > 1:
        out.append(Sample(f"{where} conversation", "\n".join(s.text for s in out)))
    return out


def _record(where: str, record: Any) -> list[Sample]:
    if isinstance(record, str):
        return [Sample(where, record)]
    if isinstance(record, list) and all(isinstance(r, str) for r in record):
        return [Sample(f"{where} [{i}]", r) for i, r in enumerate(record)]
    if isinstance(record, dict):
        if isinstance(record.get("text"), str):
            return [Sample(where, record["text"])]
        for key in ("messages", "conversations"):
            if key in record:
                return _chat(where, key, record[key])
    raise TextsError(
        f"{where}: a record verify does not know. Each line of a .jsonl file must be a JSON "
        "string, a list of strings, or an object with 'text' (a string) or 'messages' "
        "(a list of {'role', 'content'})."
    )


def _jsonl(path: Path, name: str, skipped: list[str] | None) -> Iterator[Sample]:
    text = _decode(path.read_bytes(), path)
    # JSON Lines are separated by "\n" only: str.splitlines() would also cut at U+2028,
    # U+0085 and other characters that JSON strings may hold raw.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TextsError(
                    f"{where} is not valid JSON ({exc.msg}, column {exc.colno}); each line of "
                    "a .jsonl file must be one JSON value. Give plain text files another "
                    "extension, or pass --on-error skip."
                ) from None
            samples = _record(where, record)
        except TextsError as exc:
            if skipped is None:
                raise
            skipped.append(str(exc))
            continue
        yield from samples


def _file(path: Path, name: str, skipped: list[str] | None = None) -> Iterator[Sample]:
    if path.suffix == ".jsonl":
        yield from _jsonl(path, name, skipped)
    else:
        yield Sample(name, _decode(path.read_bytes(), path))


def read_texts(
    paths: Iterable[str | os.PathLike[str]],
    skipped: list[str] | None = None,
    *,
    on_error: str = "fail",
) -> list[Sample]:
    """Every text in ``paths`` (files or directories, read recursively, in name order).

    Inside a directory, hidden files are left out, and so are files that are not UTF-8
    (their names are appended to ``skipped`` when given). A named file must be readable.
    With ``on_error="skip"``, a bad line or file anywhere is left out and described in
    ``skipped`` instead of raising TextsError.
    """
    tolerant = on_error == "skip"
    notes: list[str] = [] if skipped is None else skipped
    samples: list[Sample] = []
    for given in paths:
        root = Path(given)
        if root.is_file():
            try:
                samples.extend(_file(root, root.name, notes if tolerant else None))
            except TextsError as exc:
                if not tolerant:
                    raise
                notes.append(str(exc))
            continue
        if not root.is_dir():
            problem = f"Texts path {str(root)!r} does not exist. Give files or directories."
            if not tolerant:
                raise TextsError(problem)
            notes.append(problem)
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(root)
            if any(part.startswith(".") for part in relative.parts):
                continue
            name = f"{root.name}/{relative.as_posix()}"
            try:
                samples.extend(_file(path, name, notes if tolerant else None))
            except TextsError as exc:
                if path.suffix == ".jsonl" and not tolerant:
                    raise
                notes.append(str(exc) if tolerant else name)
    return samples


_BUILTIN: tuple[tuple[str, str], ...] = (
    ("english", "The quick brown fox jumps over the lazy dog. It's 3:45pm; don't panic!"),
    ("contractions", "I'M sure they'll say we'd've DONE it, but you're wrong isn't it"),
    ("numbers", "1234567890 3.14159 -0.5e-10 1,000,000 ١٢٣ １２３ 𝟏𝟐𝟑"),  # noqa: RUF001 - on purpose
    ("chinese", "我们在北京的天安门广场上看升旗仪式，然后去吃了烤鸭。"),  # noqa: RUF001 - on purpose
    ("japanese", "吾輩は猫である。名前はまだ無い。カタカナとひらがな、ｶﾀｶﾅ。"),
    ("korean", "안녕하세요, 세계! 한국어 텍스트입니다."),
    ("arabic", "مرحبا بالعالم، هذا نص عربي مع أرقام ٣٤٥."),
    ("hebrew", "שָׁלוֹם עוֹלָם"),
    ("hindi", "नमस्ते दुनिया, यह हिंदी पाठ है। क्षत्रिय"),
    ("thai", "สวัสดีชาวโลก ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ"),
    ("russian", "Съешь же ещё этих мягких французских булок, да выпей чаю."),
    ("greek", "Ἐν ἀρχῇ ἦν ὁ λόγος, καὶ ὁ λόγος ἦν πρὸς τὸν θεόν"),
    ("vietnamese", "Tiếng Việt có dấu: người, được, những"),
    ("emoji", "👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇺🇸🇯🇵 🇦 ❤️ 🀄 #️⃣ 🫠"),
    ("combining", "e\u0301 a\u0300\u0316 Z\u0351\u0352\u0353a\u0354\u0355lgo o" + "\u0301" * 50),
    ("zero_width", "zero\u200bwidth\u200djoiner\u200cnon\u2060word\u00adsoft\ufeffbom\u2028ls"),
    ("controls", "nul\x00 bell\x07 esc\x1b del\x7f c1\x85\x92 vt\x0b ff\x0c"),
    ("whitespace_runs", "a  b   c\t\td\n\n\ne \r\n\r\nf \u3000\u00a0g    "),
    ("spaces_1000", " " * 1000 + "word"),
    ("newlines_500", "\n" * 500 + "end"),
    ("tabs_and_indent", "def f(x):\n\tif x:\n\t\treturn x  # tab\n        pass\n"),
    ("code", 'for (int i = 0; i < n; ++i) { s += a[i] * 2; }  // "quoted" <tag/> &amp;'),
    ("json", '{"key": "value\\n\\t\\u00e9", "list": [1, 2.5, null, true]}'),
    ("url", "https://example.com/path?query=a%20b&x=1#frag user@example.org"),
    ("long_word", "x" * 5000),
    ("repeat_run", "ab" * 3000),
    ("private_use", "\ue000\uf8ff\U000f0000\U0010fffd \ufffe\uffff\U0001fffe"),
    ("empty", ""),
)


def builtin_samples() -> list[Sample]:
    """A small built-in sample of tricky strings: scripts, emoji, whitespace runs, controls."""
    return [Sample(f"builtin:{name}", text) for name, text in _BUILTIN]


def find_tokenizers(corpus: str | os.PathLike[str]) -> list[Path]:
    """Every directory under ``corpus`` (itself included) that holds a tokenizer.json."""
    root = Path(corpus)
    if not root.is_dir():
        raise TextsError(f"Corpus {str(root)!r} is not a directory of tokenizer folders.")
    return sorted(p.parent for p in root.rglob("tokenizer.json") if p.is_file())


def default_shared_dir() -> Path:
    """``$MODELCARD_SHARED``, or ``../shared`` beside the source checkout."""
    configured = os.environ.get("MODELCARD_SHARED")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent.parent / "shared"
