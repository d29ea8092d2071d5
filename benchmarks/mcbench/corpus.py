"""Benchmark texts: chat conversations, long documents, multilingual text and code.

Reads ``../shared/texts`` (or the bundled ``fixtures/texts``). Every workload gets its own
slice of each source, so no timed text has been encoded before by any contender: the
tokenizers' own caches would otherwise flatter whoever re-encodes a string.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Message = dict[str, Any]
Conversation = list[Message]

_SEED = 20261128
_NOT_TEXT = ("license", "copying", "copyright", "notice", "assembly_exception", "sources")
_LANGID_HEADER_LINES = 4


@dataclass(frozen=True)
class Doc:
    """One document: where it came from and its text."""

    name: str
    text: str

    @property
    def nbytes(self) -> int:
        return len(self.text.encode())


@dataclass
class Corpus:
    """Every text the benchmark reads, shuffled once with a fixed seed."""

    root: Path
    conversations: list[Conversation]
    long_docs: list[Doc]
    multilingual: list[Doc]
    code: list[Doc]
    #: Short texts, one list per language (or per source document).
    sentence_groups: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def sentences(self, warm: int) -> tuple[list[str], list[str]]:
        """``warm`` sentences taken round-robin across languages, and the rest, shuffled."""
        groups = [list(g) for g in self.sentence_groups]
        taken: list[str] = []
        while len(taken) < warm and any(groups):
            for group in groups:
                if group and len(taken) < warm:
                    taken.append(group.pop())
        rest = [s for g in groups for s in g]
        random.Random(_SEED).shuffle(rest)
        return taken, rest

    def describe(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "conversations": len(self.conversations),
            "long_docs": [d.name for d in self.long_docs],
            "multilingual_docs": len(self.multilingual),
            "code_files": len(self.code),
            "sentences": sum(len(g) for g in self.sentence_groups),
            "notes": self.notes,
        }


def load_corpus(root: Path) -> Corpus:
    """Read every source under ``root``; missing long documents are made from the others."""
    rng = random.Random(_SEED)
    conversations = _read_chat(root)
    multilingual = _read_multilingual(root)
    code = _read_code(root)
    sentences = _read_sentence_groups(root, multilingual)
    notes: list[str] = []
    if not (root / "multilingual" / "leipzig_sentences").is_dir():
        notes.append(
            "no leipzig_sentences/: sentences are lines of the multilingual documents, "
            "which the multilingual measure also times, so that measure is not fresh text"
        )
    long_docs = _read_dir(root / "long")
    if not long_docs:
        long_docs = _synthesize_long(multilingual + code)
        notes.append("no long/ directory: long documents are concatenated multilingual+code")
    for items in (conversations, multilingual, code, *sentences):
        rng.shuffle(items)
    rng.shuffle(long_docs)
    return Corpus(root, conversations, long_docs, multilingual, code, sentences, notes)


def _read_chat(root: Path) -> list[Conversation]:
    for name in ("chat.jsonl", "chat-sample.jsonl"):
        path = root / name
        if path.is_file():
            with path.open(encoding="utf-8") as f:
                return [json.loads(line)["messages"] for line in f if line.strip()]
    raise FileNotFoundError(f"no chat.jsonl or chat-sample.jsonl in {root}")


def _is_text_file(path: Path) -> bool:
    return path.is_file() and not path.name.lower().startswith(_NOT_TEXT)


def _read_dir(directory: Path) -> list[Doc]:
    if not directory.is_dir():
        return []
    docs = []
    for path in sorted(p for p in directory.rglob("*") if _is_text_file(p)):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if text.strip():
            docs.append(Doc(str(path.relative_to(directory)), text))
    return docs


def _strip_header(text: str) -> str:
    lines = text.split("\n")
    if len(lines) > _LANGID_HEADER_LINES and all(
        line.startswith("#") for line in lines[:_LANGID_HEADER_LINES]
    ):
        return "\n".join(lines[_LANGID_HEADER_LINES:]).lstrip("\n")
    return text


def _read_multilingual(root: Path) -> list[Doc]:
    base = root / "multilingual"
    directory = base / "langid_tests" if (base / "langid_tests").is_dir() else base
    docs = [d for d in _read_dir(directory) if d.name.endswith(".txt") and "/" not in d.name]
    return [Doc(d.name, _strip_header(d.text)) for d in docs]


def _read_code(root: Path) -> list[Doc]:
    return _read_dir(root / "code")


def _read_sentence_groups(root: Path, multilingual: Sequence[Doc]) -> list[list[str]]:
    leipzig = root / "multilingual" / "leipzig_sentences"
    docs = _read_dir(leipzig) if leipzig.is_dir() else list(multilingual)
    groups = [[line for line in d.text.splitlines() if line.strip()] for d in docs]
    return [g for g in groups if g]


def _synthesize_long(docs: Sequence[Doc], size: int = 100_000) -> list[Doc]:
    out: list[Doc] = []
    parts: list[str] = []
    total = 0
    for doc in docs:
        parts.append(doc.text)
        total += doc.nbytes
        if total >= size:
            out.append(Doc(f"synthesized-{len(out)}", "\n\n".join(parts)))
            parts, total = [], 0
    if parts:
        out.append(Doc(f"synthesized-{len(out)}", "\n\n".join(parts)))
    return out


# -- slicing ------------------------------------------------------------------------------


def split(items: Sequence[Any], wanted: dict[str, int]) -> dict[str, list[Any]]:
    """Cut ``items`` into disjoint named slices of the wanted sizes, scaled down if short.

    Every slice keeps at least one item when there are enough items for that.
    """
    total = sum(wanted.values())
    scale = min(1.0, len(items) / total) if total else 1.0
    sizes = {name: max(1, int(n * scale)) if n else 0 for name, n in wanted.items()}
    out: dict[str, list[Any]] = {}
    start = 0
    for name, n in sizes.items():
        out[name] = list(items[start : start + n])
        start += n
    return out


def chunks(items: Sequence[Any], count: int) -> list[list[Any]]:
    """``items`` dealt into ``count`` non-empty consecutive groups (fewer if too short)."""
    count = max(1, min(count, len(items)))
    size, extra = divmod(len(items), count)
    out, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        out.append(list(items[start:end]))
        start = end
    return [c for c in out if c]


def group_by_bytes(docs: Sequence[Doc], target: int, count: int) -> list[list[Doc]]:
    """Up to ``count`` groups of consecutive docs of about ``target`` bytes each."""
    groups: list[list[Doc]] = []
    current: list[Doc] = []
    size = 0
    for doc in docs:
        current.append(doc)
        size += doc.nbytes
        if size >= target:
            groups.append(current)
            current, size = [], 0
            if len(groups) == count:
                return groups
    if current:
        groups.append(current)
    return groups[:count]


# -- chat requests -------------------------------------------------------------------------


def last_user_prefix(conversation: Conversation) -> Conversation | None:
    """The conversation up to its last user message: the request a server receives."""
    for i in range(len(conversation) - 1, -1, -1):
        if conversation[i].get("role") == "user":
            return conversation[: i + 1]
    return None


def turn_requests(conversation: Conversation) -> list[Conversation]:
    """Each request of a conversation served turn by turn: everything up to each user turn."""
    return [conversation[: i + 1] for i, m in enumerate(conversation) if m.get("role") == "user"]


def responses(conversation: Conversation) -> list[str]:
    """The assistant messages: what a server decodes and streams."""
    return [m["content"] for m in conversation if m.get("role") == "assistant" and m["content"]]


def join_messages(messages: Conversation) -> str:
    """A prompt for tokenizers without a chat template."""
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant: "
