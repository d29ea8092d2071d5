"""The progress bar on stderr: rows, tokens and tokens/s, fed by every engine."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["Progress"]


class Progress:
    """A tqdm bar counting rows, with tokens and tokens/s after it.

    ``enabled=None`` shows it only when stderr is a terminal.
    """

    def __init__(self, *, enabled: bool | None, engine: str) -> None:
        from tqdm import tqdm

        self.tokens = 0
        self._started = time.perf_counter()
        self._bar: Any = tqdm(
            desc=f"tokenize ({engine})",
            unit=" rows",
            unit_scale=True,
            disable=None if enabled is None else not enabled,
            dynamic_ncols=True,
        )

    def update(self, rows: int, tokens: int) -> None:
        """Add ``rows`` rows and ``tokens`` tokens that were just written."""
        self.tokens += tokens
        from tqdm import tqdm

        rate = self.tokens / max(time.perf_counter() - self._started, 1e-9)
        size = tqdm.format_sizeof
        self._bar.set_postfix_str(
            f"{size(self.tokens)} tokens, {size(rate)} tokens/s", refresh=False
        )
        self._bar.update(rows)

    def close(self) -> None:
        self._bar.close()
