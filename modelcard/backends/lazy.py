"""A backend loaded on first use, by whichever thread needs it first."""

from __future__ import annotations

import contextlib
import threading

from .base import Backend, BackendOptions, BackendRefusedError, BackendSpec, TokenizerFile

__all__ = ["LazyBackend"]


class LazyBackend:
    """Loads ``spec`` from ``file`` once, when :meth:`get` is first called.

    The file's bytes are kept until then (half the memory of the decoded text) and
    dropped after. A refusal is remembered and raised again on every later call.
    """

    __slots__ = ("_backend", "_file", "_lock", "_options", "_refusal", "spec")

    def __init__(self, spec: BackendSpec, file: TokenizerFile, options: BackendOptions) -> None:
        self.spec = spec
        self._file: TokenizerFile | None = file
        self._options = options
        self._backend: Backend | None = None
        self._refusal: BackendRefusedError | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._backend is not None

    def get(self) -> Backend:
        """The loaded backend; raises BackendRefusedError when it cannot serve the file."""
        backend = self._backend
        if backend is not None:
            return backend
        with self._lock:
            if self._backend is None:
                if self._refusal is not None:
                    raise self._refusal
                assert self._file is not None
                try:
                    loaded = self.spec.open(self._file, self._options)
                except BackendRefusedError as exc:
                    self._refusal = exc
                    raise
                # Limits were reported when the serving backend loaded; here they only go.
                loaded.strip_limits()
                self._backend = loaded
                self._file = None
            return self._backend

    def load_in_background(self) -> None:
        """Start loading in a daemon thread; a refusal is raised on first real use."""
        if self._backend is None:
            threading.Thread(
                target=self._quiet_get, name=f"modelcard-load-{self.spec.name}", daemon=True
            ).start()

    def _quiet_get(self) -> None:
        with contextlib.suppress(BackendRefusedError):
            self.get()
