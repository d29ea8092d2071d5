"""The tokenize benchmark's input: JSONL of real text from ../shared/texts, any size.

The shared corpus holds about 58 MB of distinct text (ShareGPT messages, Leipzig
sentences and other multilingual documents, long documents, source code, the generated
stress cases). A larger input reuses it: pass 0 cuts each document into records of up
to 4,000 characters at line ends, and each further pass cuts them at another length
(and joins chat messages in pairs, from another offset), so that no record repeats
although words do. All records are then shuffled with a fixed seed, so that every part
of the file, and the half the benchmark times beside it, has the same mix of kinds and
the same share of text seen before.

A tokenizer with a word cache encodes words it has seen faster; that favours later
passes, for every engine alike (each worker and actor starts with an empty cache).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

#: Record lengths of the passes, in characters.
LIMITS = (4000, 3100, 3700, 2600, 3400, 2900, 3900, 2300)


def _pieces(text: str, limit: int) -> Iterator[str]:
    """Cut ``text`` at line ends into pieces of at most ~``limit`` characters."""
    piece: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        if size + len(line) > limit and piece:
            yield "".join(piece)
            piece, size = [], 0
        piece.append(line)
        size += len(line)
    if piece:
        yield "".join(piece)


def _documents(texts: Path, kind: str) -> Iterator[str]:
    if kind == "chat":
        with open(texts / "chat.jsonl", encoding="utf-8") as file:
            for line in file:
                yield from (m["content"] for m in json.loads(line)["messages"])
        return
    if kind in ("emoji", "adversarial"):
        name = "multilingual/emoji_sharegpt.jsonl" if kind == "emoji" else "adversarial.jsonl"
        with open(texts / name, encoding="utf-8") as file:
            yield from (json.loads(line)["text"] for line in file)
        return
    folder, suffixes = {
        "multilingual": ("multilingual", (".txt",)),
        "long": ("long", (".txt", ".rst", ".tex")),
        "code": (
            "code",
            (".py", ".rs", ".go", ".js", ".ts", ".h", ".c", ".java", ".md", ".json"),
        ),
    }[kind]
    for path in sorted((texts / folder).rglob("*")):
        if path.is_file() and path.suffix in suffixes:
            yield path.read_text(encoding="utf-8", errors="replace")


KINDS = ("chat", "multilingual", "emoji", "long", "code", "adversarial")


def records(texts: Path, pass_number: int) -> Iterator[str]:
    """The records of one pass over the shared corpus."""
    limit = LIMITS[pass_number % len(LIMITS)]
    for kind in KINDS:
        documents = _documents(texts, kind)
        if kind == "chat" and pass_number:
            # Messages joined in pairs, starting from the first or the second message.
            messages = list(documents)[pass_number % 2 :]
            documents = iter("\n\n".join(messages[i : i + 2]) for i in range(0, len(messages), 2))
        for document in documents:
            for piece in _pieces(document, limit):
                if piece.strip():
                    yield piece


def build(folder: Path, megabytes: float, texts: Path, *, seed: int = 13) -> dict[str, object]:
    """Write ``full/corpus.jsonl`` (``megabytes`` of text) and ``half/corpus.jsonl``.

    The half is every other record of the full file, so it has the same mix.
    """
    budget = int(megabytes * 1e6)
    chosen: list[str] = []
    size = 0
    passes = 0
    while size < budget:
        added = 0
        for text in records(texts, passes):
            chosen.append(text)
            added += 1
            size += len(text.encode())
            if size >= budget:
                break
        if not added:
            raise SystemExit(f"no text found in {texts}")
        passes += 1
    random.Random(seed).shuffle(chosen)
    paths = {"full": folder / "full" / "corpus.jsonl", "half": folder / "half" / "corpus.jsonl"}
    for name, part in (("full", chosen), ("half", chosen[::2])):
        paths[name].parent.mkdir(parents=True, exist_ok=True)
        with open(paths[name], "w", encoding="utf-8") as file:
            for number, text in enumerate(part):
                file.write(json.dumps({"id": number, "text": text}, ensure_ascii=False) + "\n")
    half_bytes = sum(len(t.encode()) for t in chosen[::2])
    return {
        "full": str(paths["full"]),
        "half": str(paths["half"]),
        "text_bytes": {"full": size, "half": half_bytes},
        "file_bytes": {name: path.stat().st_size for name, path in paths.items()},
        "records": {"full": len(chosen), "half": len(chosen[::2])},
        "passes": passes,
    }
