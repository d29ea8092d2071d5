"""``ModelCard.load()``: resolve files, open the backend, read the companions, cache the result.

Loaded tokenizers are kept in a small process-wide cache keyed on the settings and on
each resolved file's identity (path, inode, mtime, size), so loading the same card again
costs a few ``stat`` calls. Concurrent loads of one card build it once; the others wait
for it and get the same, fully built instance.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._log import get_logger
from .backends import (
    TOKENIZER_JSON,
    BackendOptions,
    BackendRequest,
    TokenizerFile,
    open_backend,
)
from .companions import read_companions
from .errors import FingerprintMismatchError, ModelNotFoundError, TokenizerLoadError
from .safe_chat import AddedToken, read_added_tokens
from .sources import ResolvedSource, resolve, show
from .tiktoken_files import TIKTOKEN, read_parts
from .tokenizer import Tokenizer

if TYPE_CHECKING:
    from .card import ModelCard

__all__ = ["clear_cache", "fingerprint_files", "load_card", "pin_card"]

log = get_logger("modelcard")

_CACHE_SIZE = 8
_cache: OrderedDict[Hashable, Tokenizer] = OrderedDict()
_cache_lock = threading.Lock()
_build_locks: dict[Hashable, threading.Lock] = {}


def clear_cache() -> None:
    """Forget every loaded tokenizer (they stay usable by whoever holds them)."""
    with _cache_lock:
        _cache.clear()


def load_card(card: ModelCard) -> Tokenizer:
    source = resolve(card.model, revision=card.revision, hub_timeout=card.hub_timeout)
    if source.kind == "local" and card.revision:
        log.warning(
            "revision_ignored",
            model=card.model,
            revision=card.revision,
            reason="DYN_REVISION applies to hub repos only; this model is a local path",
        )
    key = _cache_key(card, source)
    with _cache_lock:
        tokenizer = _cache.get(key)
        if tokenizer is not None:
            _cache.move_to_end(key)
        else:
            build_lock = _build_locks.setdefault(key, threading.Lock())
    if tokenizer is None:
        try:
            with build_lock:
                with _cache_lock:
                    tokenizer = _cache.get(key)
                if tokenizer is None:
                    tokenizer = _build(card, source)
                    with _cache_lock:
                        _cache[key] = tokenizer
                        while len(_cache) > _CACHE_SIZE:
                            _cache.popitem(last=False)
        finally:
            with _cache_lock:
                _build_locks.pop(key, None)
    _check_fingerprint(card, source, tokenizer.fingerprint)
    return tokenizer


def pin_card(card: ModelCard) -> ModelCard:
    """The card :func:`load_card` would give its tokenizer, without opening a backend.

    It names the same files, pinned: a hub repo at its resolved commit, a local path made
    absolute, and their fingerprint. Costs a resolve and a read of the files; a process
    that will not encode (the Ray driver) pins the card for the processes that will.
    """
    source = resolve(card.model, revision=card.revision, hub_timeout=card.hub_timeout)
    raw = _read(source.tokenizer_json, source.tokenizer_name)
    if source.form == TOKENIZER_JSON:
        _tokenizer_data(raw, source)  # an empty file fails here, as it does in a load
    pinned = _pinned(card, source, raw, _companion_bytes(source))
    assert pinned.fingerprint is not None
    _check_fingerprint(card, source, pinned.fingerprint)
    return pinned


def _check_fingerprint(card: ModelCard, source: ResolvedSource, found: str) -> None:
    if card.fingerprint is not None and card.fingerprint != found:
        raise FingerprintMismatchError(
            f"The files of {source.describe()} have fingerprint {found}, but "
            f"this card expects {card.fingerprint}: they changed since the card was created. "
            "Restore the original files, or drop the fingerprint (DYN_FINGERPRINT) to accept "
            "the new ones."
        )


def _companion_bytes(source: ResolvedSource) -> dict[str, bytes]:
    return {name: _read(path, name) for name, path in source.companions.items()}


def _pinned(
    card: ModelCard, source: ResolvedSource, raw: bytes, companions: dict[str, bytes]
) -> ModelCard:
    """The card naming exactly these files: a hub repo at its resolved commit, a local
    path made absolute for processes in other directories, and their fingerprint."""
    contents = {source.tokenizer_name: raw, **companions}
    pinned: dict[str, Any] = {"fingerprint": fingerprint_files(contents)}
    if source.kind == "hub":
        pinned["revision"] = source.commit
    else:
        pinned["model"] = str(Path(os.path.expanduser(card.model)).absolute())
    return card.model_copy(update=pinned)


def _cache_key(card: ModelCard, source: ResolvedSource) -> Hashable:
    identity = []
    for name, path in sorted(source.files.items()):
        try:
            st = os.stat(path)
        except OSError as exc:
            raise ModelNotFoundError(
                f"{name} at {show(path)} vanished while loading: {exc}"
            ) from exc
        identity.append(
            (name, os.path.realpath(path), st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        )
    settings = tuple(sorted(card.model_dump(exclude={"fingerprint"}).items()))
    return (settings, tuple(identity))


def fingerprint_files(contents: dict[str, bytes]) -> str:
    """A stable hash of a card's files: their names and contents, not where they live."""
    digest = hashlib.sha256()
    for name in sorted(contents):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(contents[name]).digest())
    return "sha256:" + digest.hexdigest()


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise TokenizerLoadError(f"{what} at {show(path)} is a directory, not a file.") from None
    except OSError as exc:
        raise TokenizerLoadError(
            f"{what} at {show(path)} cannot be read: {exc.strerror or exc}."
        ) from exc


def _damaged(source: ResolvedSource) -> str:
    if source.kind == "hub":
        return " The cached copy is damaged: delete it (`hf cache delete`) and load again."
    return ""


def _tokenizer_data(raw: bytes, source: ResolvedSource) -> bytes:
    if not raw.strip():
        raise TokenizerLoadError(
            f"The tokenizer.json of {source.describe()} is empty.{_damaged(source)}"
        )
    return raw.removeprefix(codecs.BOM_UTF8)


def _not_utf8(data: bytes, source: ResolvedSource) -> TokenizerLoadError | None:
    """The error for a file that is not UTF-8, or None.

    Checked only once a backend failed: decoding 7 MB to test it costs time, and the
    freed text leaves the allocator holding tens of MB more for the rest of the load.
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return TokenizerLoadError(
            f"The tokenizer.json of {source.describe()} is not UTF-8 text ({exc.reason})."
            f"{_damaged(source)}"
        )
    return None


def _request(card: ModelCard) -> BackendRequest:
    return BackendRequest(
        tokenizer=card.tokenizer,
        decoder=card.decoder,
        fallback=card.tokenizer_fallback,
        decoder_load=card.decoder_load,
        options=BackendOptions(
            tokenizer_cache_bytes=card.tokenizer_cache_bytes,
            tokenizer_rewrite=card.tokenizer_rewrite,
        ),
    )


def _build(card: ModelCard, source: ResolvedSource) -> Tokenizer:
    if source.form == TIKTOKEN:
        raw = _read(source.tokenizer_json, source.tokenizer_name)
        data = raw
        parts = read_parts(
            source.tokenizer_json, raw, source.files, pattern_setting=card.tiktoken_pattern
        )
        file = TokenizerFile(
            form=TIKTOKEN,
            path=source.tokenizer_json,
            data=raw,
            files=source.files,
            where=source.describe(),
            tiktoken=parts,
        )
    else:
        raw = _read(source.tokenizer_json, source.tokenizer_name)
        data = _tokenizer_data(raw, source)
        file = TokenizerFile(
            form=TOKENIZER_JSON,
            path=source.tokenizer_json,
            data=data,
            files=source.files,
            where=source.describe(),
            exact=len(data) == len(raw),
        )
    try:
        backend, fallback_reason = open_backend(file, _request(card))
    except TokenizerLoadError as exc:
        not_utf8 = _not_utf8(data, source)
        if not_utf8 is None:
            raise
        raise not_utf8 from exc
    removed = backend.strip_limits()
    if removed:
        log.warning(
            "tokenizer_limits_disabled",
            path=str(source.tokenizer_json),
            reason="tokenizer.json declares truncation or padding; serving must never clip "
            "or pad a prompt silently, so both are off",
            **removed,
        )
    companions = _companion_bytes(source)
    config = read_companions(companions, source.companions, backend.token_to_id, backend.vocab_size)
    for warning in config.warnings:
        log.warning(
            "companion_value_ignored",
            file=warning.file,
            key=warning.key,
            value=warning.value,
            reason=warning.reason,
            path=str(source.companions.get(warning.file.split(" ")[0], "")),
        )
    # The card a tokenizer carries (and pickles as).
    pinned = _pinned(card, source, raw, companions)
    assert pinned.fingerprint is not None
    return Tokenizer(
        backend=backend,
        card=pinned,
        source=source,
        config=config,
        fingerprint=pinned.fingerprint,
        fallback_reason=fallback_reason,
        added_tokens=_added_tokens(file),
        form_details=_form_details(file),
    )


def _added_tokens(file: TokenizerFile) -> tuple[AddedToken, ...]:
    """The added tokens safe chat encoding guards: a ranks file's special tokens are all special."""
    if file.tiktoken is not None:
        return tuple(
            AddedToken(content=content, id=token_id, special=True, normalized=False)
            for content, token_id in file.tiktoken.special_tokens.items()
        )
    return read_added_tokens(file.data)


def _form_details(file: TokenizerFile) -> dict[str, Any] | None:
    parts = file.tiktoken
    if parts is None:
        return None
    return {
        "tiktoken": {
            "file": str(parts.path),
            "pattern_source": parts.pattern_source,
            "pattern": parts.pattern,
            "ranks": len(parts.ranks),
            "special_tokens": parts.special_tokens,
        }
    }
