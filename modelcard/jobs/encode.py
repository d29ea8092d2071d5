"""The encode step every engine runs, and the output table it fills.

Chat records are rendered with the card's chat template first: the whole conversation,
``add_generation_prompt=False`` (the data already holds the assistant's turns), then
encoded with ``add_special_tokens`` as the job says (the template writes the model's
special tokens itself). As in ``apply_chat_template(tokenize=True)``, special-token
strings inside the content stay text (``--trust-content`` turns that off): the few
conversations that hold some get their ids from the guarded path, one by one, and the
rest are encoded in one batch as before. A batch is encoded with ``encode_batch_flat``;
when that fails, its records are encoded one at a time (batches of one) so the failure
names the record and the others still get ids, the same ids ``encode`` gives. Ids stay
in numpy arrays and become Arrow buffers as they are: no Python object per token, on
either path.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ..errors import ModelCardError
from .records import BadRecord, RecordError

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import pyarrow as pa
    from numpy.typing import NDArray

    from ..tokenizer import Tokenizer
    from .inputs import Parsed

__all__ = ["Encoded", "encode_parsed", "output_schema", "output_table", "parquet_options"]

#: Offsets of Arrow's list<uint32> are int32.
_MAX_LIST_VALUES = 2**31 - 1


@dataclasses.dataclass(slots=True)
class Encoded:
    """Ids of the good records of one chunk or batch, and the bad ones."""

    source: str
    rows: NDArray[np.int64]
    ids: NDArray[np.uint32]
    offsets: NDArray[np.uint64]
    bad: list[BadRecord]
    blank: int = 0

    @property
    def tokens(self) -> int:
        return int(self.offsets[-1])


def _render(
    tok: Tokenizer, parsed: Parsed, bad: list[BadRecord], trust_content: bool
) -> tuple[list[int], list[str], list[tuple[int, list[int]]]]:
    """Rows and prompts of the good records, and ``(row, ids)`` of those whose content
    had special-token strings, which the guarded path has already encoded."""
    rows: list[int] = []
    texts: list[str] = []
    guarded: list[tuple[int, list[int]]] = []
    for row, messages in zip(parsed.rows, parsed.values, strict=True):
        try:
            prompt = tok._chat(
                messages,
                add_generation_prompt=False,
                tools=None,
                documents=None,
                chat_template=None,
                continue_final_message=False,
                guard=not trust_content,
                extra={},
            )
        except ModelCardError as exc:
            bad.append(BadRecord(parsed.source, row, "chat_template", str(exc)))
            continue
        if isinstance(prompt, list):
            guarded.append((row, prompt))
        else:
            rows.append(row)
            texts.append(prompt)
    return rows, texts, guarded


def _framer(tok: Tokenizer) -> Callable[[list[int]], list[int]]:
    """What puts ids between the post-processor's tokens, as ``add_special_tokens`` does:
    the backend's own ``frame``, else one probe of its encode for the whole batch."""
    from ..backends.base import _probe_frame

    frame: Callable[[list[int]], list[int]] | None = getattr(tok._backend, "frame", None)
    if frame is not None:
        return frame
    prefix, suffix = _probe_frame(tok._backend.encode)
    return lambda ids: [*prefix, *ids, *suffix]


def _merge(
    tok: Tokenizer,
    rows: list[int],
    ids: NDArray[np.uint32],
    offsets: NDArray[np.uint64],
    guarded: list[tuple[int, list[int]]],
    add_special_tokens: bool,
) -> tuple[list[int], NDArray[np.uint32], NDArray[np.uint64]]:
    """The batch's rows and the guarded rows together, in record order."""
    import numpy as np

    pieces: list[tuple[int, NDArray[np.uint32]]] = [
        (row, ids[int(offsets[i]) : int(offsets[i + 1])]) for i, row in enumerate(rows)
    ]
    frame = _framer(tok) if add_special_tokens else None
    for row, row_ids in guarded:
        framed = frame(row_ids) if frame is not None else row_ids
        pieces.append((row, np.asarray(framed, dtype=np.uint32)))
    pieces.sort(key=lambda piece: piece[0])
    merged = np.zeros(len(pieces) + 1, dtype=np.uint64)
    np.cumsum([len(p) for _, p in pieces], out=merged[1:])
    flat = np.concatenate([p for _, p in pieces]) if pieces else np.zeros(0, dtype=np.uint32)
    return [row for row, _ in pieces], flat.astype(np.uint32, copy=False), merged


def _one_by_one(
    tok: Tokenizer,
    source: str,
    rows: list[int],
    texts: list[str],
    add_special_tokens: bool,
    bad: list[BadRecord],
) -> tuple[list[int], NDArray[np.uint32], NDArray[np.uint64]]:
    """Each text as a batch of one, so a failure names its record (ids stay numpy)."""
    import numpy as np

    kept_rows: list[int] = []
    kept: list[NDArray[np.uint32]] = []
    for row, text in zip(rows, texts, strict=True):
        try:
            ids = tok.encode_batch_flat([text], add_special_tokens=add_special_tokens).ids
        except (ModelCardError, ValueError, TypeError) as exc:
            bad.append(BadRecord(source, row, "encode", f"cannot encode: {exc}"))
            continue
        kept_rows.append(row)
        kept.append(ids)
    offsets = np.zeros(len(kept) + 1, dtype=np.uint64)
    np.cumsum([len(ids) for ids in kept], out=offsets[1:])
    flat = np.concatenate(kept) if kept else np.zeros(0, dtype=np.uint32)
    return kept_rows, flat.astype(np.uint32, copy=False), offsets


def encode_parsed(
    tok: Tokenizer,
    parsed: Parsed,
    *,
    chat: bool,
    add_special_tokens: bool,
    on_error: str,
    trust_content: bool = False,
) -> Encoded:
    """Encode the good records of ``parsed``; with ``on_error='fail'`` the first bad one raises."""
    import numpy as np

    bad = list(parsed.bad)
    if on_error == "fail" and bad:
        raise RecordError(bad[0])
    guarded: list[tuple[int, list[int]]] = []
    if chat:
        rows, texts, guarded = _render(tok, parsed, bad, trust_content)
    else:
        rows, texts = parsed.rows, parsed.values
    try:
        ids, offsets = tok.encode_batch_flat(texts, add_special_tokens=add_special_tokens)
    except (ModelCardError, ValueError, TypeError):
        rows, ids, offsets = _one_by_one(tok, parsed.source, rows, texts, add_special_tokens, bad)
    if guarded:
        rows, ids, offsets = _merge(tok, rows, ids, offsets, guarded, add_special_tokens)
    bad.sort(key=lambda record: record.row)
    if on_error == "fail" and bad:
        raise RecordError(bad[0])
    return Encoded(parsed.source, np.asarray(rows, dtype=np.int64), ids, offsets, bad, parsed.blank)


def output_schema() -> pa.Schema:
    """source (file relative to INPUT), row (1-based line or row), ids, num_tokens."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("source", pa.string(), nullable=False),
            pa.field("row", pa.int64(), nullable=False),
            pa.field("ids", pa.list_(pa.uint32()), nullable=False),
            pa.field("num_tokens", pa.int64(), nullable=False),
        ]
    )


def parquet_options() -> dict[str, Any]:
    """How shards are written: zstd, and a dictionary for ``source`` alone.

    Dictionary-encoding the ids (a Qwen shard holds ~100k distinct ones) fills the
    dictionary page, falls back to plain, and so costs half the write time for a file
    about 20% larger than plain + zstd.
    """
    return {"compression": "zstd", "use_dictionary": ["source"]}


def _fixed(values: NDArray[Any], kind: pa.DataType) -> pa.Array:
    import numpy as np
    import pyarrow as pa

    # from_buffers shares the numpy buffer; pa.array() would also import pandas (0.5 s).
    data = np.ascontiguousarray(values)
    return pa.Array.from_buffers(kind, len(data), [None, pa.py_buffer(data)])


def _repeated(text: str, count: int) -> pa.Array:
    import numpy as np
    import pyarrow as pa

    raw = text.encode()
    offsets = np.arange(count + 1, dtype=np.int32) * len(raw)
    return pa.Array.from_buffers(
        pa.string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(raw * count)]
    )


def output_table(encoded: Encoded) -> pa.Table:
    """The output rows of ``encoded``, sharing its id buffer (no per-token Python objects)."""
    import numpy as np
    import pyarrow as pa

    if encoded.tokens > _MAX_LIST_VALUES:
        raise ModelCardError(
            f"{encoded.source}: one batch holds {encoded.tokens} tokens, more than a Parquet "
            "list column takes; lower --chunk-bytes or --batch-rows."
        )
    count = len(encoded.rows)
    ids = pa.ListArray.from_arrays(
        _fixed(encoded.offsets.astype(np.int32), pa.int32()), _fixed(encoded.ids, pa.uint32())
    )
    columns = [
        _repeated(encoded.source, count),
        _fixed(encoded.rows.astype(np.int64), pa.int64()),
        ids,
        _fixed(np.diff(encoded.offsets).astype(np.int64), pa.int64()),
    ]
    return pa.Table.from_arrays(columns, schema=output_schema())
