"""Pack id lists into the flat (ids, offsets) arrays of ``encode_batch_flat``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["flatten", "flatten_rows"]


def flatten(
    lengths: Sequence[int], ids: Iterable[int]
) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]:
    """uint32 ``ids`` (consumed lazily) and the uint64 offsets of rows of ``lengths``."""
    import numpy as np

    offsets = np.zeros(len(lengths) + 1, dtype=np.uint64)
    if lengths:
        np.cumsum(lengths, out=offsets[1:])
    return np.fromiter(ids, dtype=np.uint32, count=int(offsets[-1])), offsets


def flatten_rows(rows: Sequence[Sequence[int]]) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]:
    """:func:`flatten` for rows that are already id lists."""
    return flatten([len(row) for row in rows], (i for row in rows for i in row))
