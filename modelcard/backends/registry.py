"""Every backend by name: the built-ins, and plugins from the ``modelcard.backends`` group.

``BACKENDS`` is the one dict of :class:`BackendSpec` by canonical name. Plugins are
found through the entry-point group ``modelcard.backends`` the first time a name is
looked up, once per process: each entry point names a ``BackendSpec`` (or a function
returning one). A plugin that fails to import, or that reuses a taken name, is skipped
with one ``backend_plugin_failed`` warning naming the entry point; the built-ins keep
working.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterator

from .._log import get_logger
from ..tiktoken_files import TIKTOKEN
from . import fastokens, huggingface, tiktoken, transformers
from .base import TOKENIZER_JSON, BackendSpec

__all__ = [
    "AUTO",
    "BACKENDS",
    "DEFAULT",
    "ENTRY_POINT_GROUP",
    "REFERENCES",
    "UnknownBackendError",
    "auto_candidates",
    "canonical",
    "choices",
    "describe_choices",
    "fastest",
    "get",
    "help_text",
    "reference_for",
    "reload_plugins",
]

log = get_logger("modelcard")

ENTRY_POINT_GROUP = "modelcard.backends"
#: Under ``tokenizer=auto``: the fastest backend that can serve the file.
AUTO = "auto"

BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec for spec in (huggingface.SPEC, fastokens.SPEC, transformers.SPEC, tiktoken.SPEC)
}
_BUILTIN = frozenset(BACKENDS)
#: The backend a card uses when none is named.
DEFAULT = huggingface.SPEC.name
#: The backend every other one must agree with, by source form; it is what they fall
#: back to when they cannot serve a file or an input.
REFERENCES: dict[str, str] = {
    TOKENIZER_JSON: huggingface.SPEC.name,
    TIKTOKEN: tiktoken.SPEC.name,
}

_lock = threading.Lock()
_plugins_loaded = False


class UnknownBackendError(ValueError):
    """A backend name that no registered backend answers to."""


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    with _lock:
        if _plugins_loaded:
            return
        from importlib.metadata import entry_points

        for point in entry_points(group=ENTRY_POINT_GROUP):
            where = f"{point.name} = {point.value}"
            try:
                found = point.load()
                spec = found if isinstance(found, BackendSpec) else found()
                if not isinstance(spec, BackendSpec):
                    raise TypeError(f"it gave {type(spec).__name__}, not a BackendSpec")
            except Exception as exc:
                log.warning(
                    "backend_plugin_failed",
                    entry_point=where,
                    group=ENTRY_POINT_GROUP,
                    reason=f"{type(exc).__name__}: {exc}",
                )
                continue
            taken = {spec.name, *spec.aliases} & set(_names())
            if taken:
                log.warning(
                    "backend_plugin_failed",
                    entry_point=where,
                    group=ENTRY_POINT_GROUP,
                    reason=f"the name {sorted(taken)[0]!r} is taken by another backend",
                )
                continue
            BACKENDS[spec.name] = spec
        _plugins_loaded = True


def reload_plugins() -> None:
    """Forget plugins and look for them again (after installing one in a live process)."""
    global _plugins_loaded
    with _lock:
        for name in [n for n in BACKENDS if n not in _BUILTIN]:
            del BACKENDS[name]
        _plugins_loaded = False
    _load_plugins()


def _names() -> Iterator[str]:
    for spec in BACKENDS.values():
        yield spec.name
        yield from spec.aliases


def choices() -> list[str]:
    """Every accepted name, canonical names first, then ``auto``, then aliases."""
    _load_plugins()
    aliases = [alias for spec in BACKENDS.values() for alias in spec.aliases]
    return [*BACKENDS, AUTO, *aliases]


def describe_choices(*, auto: bool = True) -> str:
    """The names for a message: ``huggingface (aliases: default, hf), fastokens, auto``."""
    _load_plugins()
    parts = [
        f"{spec.name} (aliases: {', '.join(spec.aliases)})" if spec.aliases else spec.name
        for spec in BACKENDS.values()
    ]
    return ", ".join([*parts, AUTO] if auto else parts)


def help_text() -> str:
    """Each built-in backend's name, aliases and one-line summary, for a setting's help."""
    parts = []
    for spec in BACKENDS.values():
        aliases = f" (aliases: {', '.join(spec.aliases)})" if spec.aliases else ""
        parts.append(f"'{spec.name}'{aliases}: {spec.summary}")
    return "; ".join(parts)


def _lookup(name: str) -> str | None:
    for spec in BACKENDS.values():
        if name == spec.name or name in spec.aliases:
            return spec.name
    return None


def canonical(value: str, *, auto: bool = True) -> str:
    """The canonical name for ``value`` (any case, spaces around, an alias), or ``auto``.

    Raises UnknownBackendError, with a close match when there is one. Plugins are looked
    for only when the name is not a built-in one, so a card naming a built-in backend
    never pays for scanning the installed distributions.
    """
    name = value.strip().lower()
    if auto and name == AUTO:
        return AUTO
    found = _lookup(name)
    if found is None:
        _load_plugins()
        found = _lookup(name)
    if found is not None:
        return found
    known = [n for n in choices() if auto or n != AUTO]
    guess = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" Did you mean {guess[0]!r}?" if guess else ""
    raise UnknownBackendError(f"unknown backend {value!r}.{hint}")


def get(name: str) -> BackendSpec:
    """The spec of a canonical backend name."""
    if name not in BACKENDS:
        _load_plugins()
    return BACKENDS[name]


def reference_for(spec: BackendSpec, form: str) -> BackendSpec | None:
    """The backend ``spec`` falls back to on a file of ``form``; None for a reference."""
    name = spec.reference or REFERENCES.get(form)
    if name is None or name == spec.name or name not in BACKENDS:
        return None
    return BACKENDS[name]


def fastest(form: str) -> str:
    """The backend ``auto`` tries first for ``form`` (what verify checks by default)."""
    candidates = auto_candidates(form)
    return candidates[0].name if candidates else REFERENCES[form]


def auto_candidates(form: str) -> list[BackendSpec]:
    """The backends ``auto`` tries for ``form``, fastest first."""
    _load_plugins()
    ranked = [
        spec for spec in BACKENDS.values() if spec.auto_rank is not None and form in spec.sources
    ]
    return sorted(ranked, key=lambda spec: spec.auto_rank or 0)
