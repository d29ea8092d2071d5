"""What a backend is: its spec (name, aliases, source forms, capabilities, options), the
Protocol a loaded backend implements, and the file it loads from.

A backend is a library that can encode, and usually decode and stream, the tokenizer of
one source form (``tokenizer.json``, or a tiktoken ranks file). Its :class:`BackendSpec`
is everything the rest of modelcard knows about it; nothing outside
``modelcard.backends`` names a backend.

The hot path belongs to the library. ``encode``, ``encode_batch``, ``decode`` and
``decode_batch`` on a loaded backend are attributes, usually the library's own bound
methods, so the wrapped tokenizer calls them with no Python frame of ours in between.
They may raise whatever the library raises; the tokenizer facade hands encode failures
to :meth:`Backend.encode_failed` (where the fallback composite applies its policy) and
translates decode failures itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, runtime_checkable

from .._translate import describe, is_library_failure
from ..errors import EncodeError, ModelCardError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from ..tiktoken_files import TiktokenParts

__all__ = [
    "TOKENIZER_JSON",
    "Backend",
    "BackendBase",
    "BackendOptions",
    "BackendRefusedError",
    "BackendSpec",
    "Capability",
    "Delegating",
    "Encoding",
    "HasIds",
    "Loader",
    "StreamStep",
    "TokenizerFile",
    "strip_limits",
]

#: The source form of HF-format tokenizers.
TOKENIZER_JSON = "tokenizer.json"

Capability = Literal["encode", "decode", "stream"]
#: One step of a native decode stream: the next id in, new text (or None) out.
StreamStep = Callable[[int], "str | None"]


class HasIds(Protocol):
    """An encoding result: only ``ids`` is used."""

    @property
    def ids(self) -> list[int]: ...


class Encoding(NamedTuple):
    """A plain encoding result, for backends whose library returns bare id lists."""

    ids: list[int]


class BackendRefusedError(Exception):
    """A backend cannot serve this file (unsupported feature, missing package).

    The message is the reason, in plain words; the fallback composite logs it.
    """


@dataclass(frozen=True)
class TokenizerFile:
    """The tokenizer file of a card, read once, as every backend receives it."""

    #: The source form, e.g. ``"tokenizer.json"``.
    form: str
    #: Where the file is on local disk.
    path: Path
    #: Its contents (a UTF-8 BOM removed).
    data: bytes
    #: Every file of the card by its name in the repo, companions included.
    files: Mapping[str, Path] = field(default_factory=dict)
    #: The card's source, for messages ("local path '...'", "hub repo ... at ...").
    where: str = ""
    #: The file at ``path`` holds exactly ``data`` (no BOM was removed), so a library may
    #: read it from disk itself.
    exact: bool = True
    #: For a tiktoken ranks file: its ranks, split pattern and special tokens.
    tiktoken: TiktokenParts | None = None

    @property
    def directory(self) -> Path:
        return self.path.parent

    def text(self) -> str:
        return self.data.decode("utf-8")


@dataclass(frozen=True)
class BackendOptions:
    """Card settings that backends may use; each spec lists the ones it reads."""

    #: fastokens' segment cache budget (``DYN_TOKENIZER_CACHE_BYTES``).
    tokenizer_cache_bytes: int = 0
    #: Rewrite a refused file into an equal form the backend accepts (``DYN_TOKENIZER_REWRITE``).
    tokenizer_rewrite: bool = True


@runtime_checkable
class Backend(Protocol):
    """A loaded backend: one tokenizer file, ready to encode and decode."""

    #: The library that encodes, as ``Tokenizer.backend`` reports it.
    name: str
    #: The library that decodes and streams.
    decoder: str
    vocab_size: int
    #: True when ``decode`` itself rejects negative, non-int and over-32-bit ids with
    #: ``TypeError`` or ``OverflowError``; otherwise the facade checks them first.
    checks_ids: bool

    # The calls below up to decode_batch are usually a library's bound methods, set as
    # attributes. The *_split forms encode special-token strings in the text as ordinary
    # text (no control id comes out); other added tokens still match. Neither may flip
    # state another thread could see.

    def encode(self, text: str, add_special_tokens: bool = False) -> HasIds:
        """An encoding with ``.ids``; may raise whatever the library raises."""
        ...

    def encode_split(self, text: str, add_special_tokens: bool = False) -> HasIds:
        """:meth:`encode`, with special-token strings in ``text`` as ordinary text."""
        ...

    def encode_ordinary(self, text: str) -> HasIds:
        """``text`` with no added token matched at all (special or not), no post-processor."""
        ...

    def encode_batch(
        self, texts: Sequence[str], add_special_tokens: bool = False
    ) -> Sequence[HasIds]:
        """Encodings of ``texts``, in order."""
        ...

    def encode_batch_split(
        self, texts: Sequence[str], add_special_tokens: bool = False
    ) -> Sequence[HasIds]:
        """:meth:`encode_batch`, with special-token strings as ordinary text."""
        ...

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        """Text of ``ids``; ids past the vocabulary add no text."""
        ...

    def decode_batch(self, rows: list[list[int]], skip_special_tokens: bool = False) -> list[str]:
        """Text of each row."""
        ...

    def encode_batch_flat(
        self, texts: list[str], add_special_tokens: bool, split_special_tokens: bool
    ) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]:
        """All ids of ``texts`` in one uint32 array, and the uint64 row offsets."""
        ...

    def encode_segments(
        self, segments: Sequence[tuple[str, bool]], add_special_tokens: bool
    ) -> list[int]:
        """Ids of ``(text, allow_special)`` pieces, each encoded on its own and joined:
        :meth:`encode` where ``allow_special`` is true, :meth:`encode_ordinary` (no added
        token matches) where it is false. With ``add_special_tokens`` the post-processor's
        tokens go around the whole."""
        ...

    def decode_stream(self, ids: list[int] | None, skip_special_tokens: bool) -> StreamStep | None:
        """A native stream's step function, primed with ``ids``; None if there is none."""
        ...

    def encode_failed(
        self,
        exc: BaseException,
        text: str,
        add_special_tokens: bool,
        split_special_tokens: bool = False,
        *,
        ordinary: bool = False,
    ) -> list[int]:
        """An encode raised ``exc``: return ids some other way, or raise EncodeError.

        ``split_special_tokens`` and ``ordinary`` say which encode it was."""
        ...

    def encode_batch_failed(
        self,
        exc: BaseException,
        texts: Sequence[str],
        add_special_tokens: bool,
        split_special_tokens: bool = False,
    ) -> list[list[int]]:
        """A batch (or flat batch) encode raised ``exc``: return ids, or raise."""
        ...

    def encode_segments_failed(
        self, exc: BaseException, segments: Sequence[tuple[str, bool]], add_special_tokens: bool
    ) -> list[int]:
        """:meth:`encode_segments` raised ``exc``: return ids, or raise."""
        ...

    def token_to_id(self, token: str) -> int | None: ...

    def id_to_token(self, token_id: int) -> str | None: ...

    def get_vocab(self) -> dict[str, int]:
        """Every token and its id, added tokens included."""
        ...

    def strip_limits(self) -> dict[str, Any]:
        """Turn off truncation and padding the file declares; return what was on."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counters worth showing (fallbacks, caches); JSON-ready."""
        ...


class BackendBase:
    """Shared behaviour for backends: failures raise EncodeError, batches and segments
    retry piece by piece, split forms and segments are built from the plain calls.

    Subclasses set the Protocol's attributes (usually to a library's bound methods).
    """

    name: str
    decoder: str
    vocab_size: int
    checks_ids: bool = False
    encode: Callable[..., HasIds]
    encode_batch: Callable[..., Sequence[HasIds]]
    id_to_token: Callable[[int], str | None]

    def encode_split(self, text: str, add_special_tokens: bool = False) -> HasIds:
        raise NotImplementedError(f"{self.name} cannot encode special-token strings as text")

    def encode_ordinary(self, text: str) -> HasIds:
        raise NotImplementedError(f"{self.name} cannot encode text without its added tokens")

    def encode_batch_split(
        self, texts: Sequence[str], add_special_tokens: bool = False
    ) -> Sequence[HasIds]:
        return [self.encode_split(t, add_special_tokens) for t in texts]

    def encode_batch_flat(
        self, texts: list[str], add_special_tokens: bool, split_special_tokens: bool
    ) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]:
        from .._flat import flatten

        batch = self.encode_batch_split if split_special_tokens else self.encode_batch
        encodings = batch(texts, add_special_tokens=add_special_tokens)
        return flatten([len(e.ids) for e in encodings], (i for e in encodings for i in e.ids))

    def encode_segments(
        self, segments: Sequence[tuple[str, bool]], add_special_tokens: bool
    ) -> list[int]:
        ids: list[int] = []
        for text, allow_special in segments:
            if allow_special:
                ids += self.encode(text, add_special_tokens=False).ids
            else:
                ids += self.encode_ordinary(text).ids
        return self.frame(ids) if add_special_tokens else ids

    def frame(self, ids: list[int]) -> list[int]:
        """``ids`` between the post-processor's tokens (BOS before, EOS after, ...).

        Found once by encoding a probe with and without them, so it holds for any
        post-processor that only adds tokens around a single sequence.
        """
        found = self.__dict__.get("_frame")
        if found is None:
            found = self.__dict__["_frame"] = _probe_frame(self.encode)
        prefix, suffix = found
        return [*prefix, *ids, *suffix]

    def decode_stream(self, ids: list[int] | None, skip_special_tokens: bool) -> StreamStep | None:
        return None

    def encode_failed(
        self,
        exc: BaseException,
        text: str,
        add_special_tokens: bool,
        split_special_tokens: bool = False,
        *,
        ordinary: bool = False,
    ) -> list[int]:
        check_text(exc, text)
        raise EncodeError(
            f"{self.name} failed to encode a {len(text)}-character input: {describe(exc)}. "
            "This input cannot be encoded by this tokenizer."
        ) from exc

    def encode_batch_failed(
        self,
        exc: BaseException,
        texts: Sequence[str],
        add_special_tokens: bool,
        split_special_tokens: bool = False,
    ) -> list[list[int]]:
        check_texts(exc, texts)
        # Find the inputs that fail, so the rest keep their ids.
        encode = self.encode_split if split_special_tokens else self.encode
        out: list[list[int]] = []
        for text in texts:
            try:
                out.append(encode(text, add_special_tokens=add_special_tokens).ids)
            except BaseException as one:
                out.append(self.encode_failed(one, text, add_special_tokens, split_special_tokens))
        return out

    def encode_segments_failed(
        self, exc: BaseException, segments: Sequence[tuple[str, bool]], add_special_tokens: bool
    ) -> list[int]:
        check_segments(exc, segments)
        ids: list[int] = []
        for text, allow_special in segments:
            try:
                if allow_special:
                    ids += self.encode(text, add_special_tokens=False).ids
                else:
                    ids += self.encode_ordinary(text).ids
            except BaseException as one:
                ids += self.encode_failed(one, text, False, ordinary=not allow_special)
        return self.frame(ids) if add_special_tokens else ids

    def get_vocab(self) -> dict[str, int]:
        vocab: dict[str, int] = {}
        for token_id in range(self.vocab_size):
            token = self.id_to_token(token_id)
            if token is not None:
                vocab.setdefault(token, token_id)
        return vocab

    def strip_limits(self) -> dict[str, Any]:
        return {}

    def stats(self) -> dict[str, Any]:
        return {}


class Delegating(BackendBase):
    """A backend built around another (``inner``): every call goes to it unless a
    subclass says otherwise. The hot-path calls are the inner backend's own attributes,
    so wrapping adds no frame. Batch and segment failures use :class:`BackendBase`'s
    per-input retry, which calls this backend's :meth:`encode_failed`."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name
        self.decoder = inner.decoder
        self.vocab_size = inner.vocab_size
        self.checks_ids = inner.checks_ids
        #: The rewrites the file was served after (see backends/rewrites.py).
        self.rewrites: tuple[str, ...] = getattr(inner, "rewrites", ())
        self.encode: Callable[..., HasIds] = inner.encode
        self.encode_split: Callable[..., HasIds] = inner.encode_split
        self.encode_ordinary: Callable[..., HasIds] = inner.encode_ordinary
        self.encode_batch: Callable[..., Sequence[HasIds]] = inner.encode_batch
        self.encode_batch_split: Callable[..., Sequence[HasIds]] = inner.encode_batch_split
        self.decode: Callable[..., str] = inner.decode
        self.decode_batch: Callable[..., list[str]] = inner.decode_batch
        self.token_to_id: Callable[[str], int | None] = inner.token_to_id
        self.id_to_token: Callable[[int], str | None] = inner.id_to_token

    def encode_batch_flat(
        self, texts: list[str], add_special_tokens: bool, split_special_tokens: bool
    ) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]:
        return self.inner.encode_batch_flat(texts, add_special_tokens, split_special_tokens)

    def encode_segments(
        self, segments: Sequence[tuple[str, bool]], add_special_tokens: bool
    ) -> list[int]:
        return self.inner.encode_segments(segments, add_special_tokens)

    def decode_stream(self, ids: list[int] | None, skip_special_tokens: bool) -> StreamStep | None:
        return self.inner.decode_stream(ids, skip_special_tokens)

    def encode_failed(
        self,
        exc: BaseException,
        text: str,
        add_special_tokens: bool,
        split_special_tokens: bool = False,
        *,
        ordinary: bool = False,
    ) -> list[int]:
        return self.inner.encode_failed(
            exc, text, add_special_tokens, split_special_tokens, ordinary=ordinary
        )

    def get_vocab(self) -> dict[str, int]:
        return self.inner.get_vocab()

    def strip_limits(self) -> dict[str, Any]:
        return self.inner.strip_limits()

    def stats(self) -> dict[str, Any]:
        return self.inner.stats()


def _probe_frame(encode: Callable[..., HasIds]) -> tuple[list[int], list[int]]:
    for probe in ("a", "hello", "0", " "):
        plain = encode(probe, add_special_tokens=False).ids
        framed = encode(probe, add_special_tokens=True).ids
        if not plain:
            continue
        for start in range(len(framed) - len(plain) + 1):
            if framed[start : start + len(plain)] == plain:
                return framed[:start], framed[start + len(plain) :]
    return encode("", add_special_tokens=True).ids, []


def check_text(exc: BaseException, text: object) -> None:
    """Re-raise what is not a library failure; a non-str input is the caller's TypeError."""
    if not is_library_failure(exc):
        raise exc
    if not isinstance(text, str):
        raise TypeError(f"encode() takes a str, not {type(text).__name__}") from None


def check_texts(exc: BaseException, texts: object) -> None:
    """:func:`check_text` for a batch."""
    if not is_library_failure(exc):
        raise exc
    if (
        isinstance(texts, str)
        or not isinstance(texts, Sequence)
        or not all(isinstance(t, str) for t in texts)
    ):
        raise TypeError("encode_batch() takes a sequence of str") from None


def check_segments(exc: BaseException, segments: object) -> None:
    """:func:`check_text` for ``(text, allow_special)`` pairs."""
    if not is_library_failure(exc):
        raise exc
    if not isinstance(segments, Sequence) or not all(
        isinstance(s, tuple) and len(s) == 2 and isinstance(s[0], str) for s in segments
    ):
        raise TypeError("encode_segments() takes a sequence of (str, bool) pairs") from None


def strip_limits(tokenizer: Any) -> dict[str, Any]:
    """Turn off truncation and padding declared in tokenizer.json; return what was on.

    Serving must never clip a prompt silently. HF tokenizers and fastokens expose the
    same ``truncation``/``padding``/``no_truncation``/``no_padding`` surface.
    """
    removed: dict[str, Any] = {}
    if tokenizer.truncation:
        removed["truncation"] = dict(tokenizer.truncation)
        tokenizer.no_truncation()
    if tokenizer.padding:
        removed["padding"] = dict(tokenizer.padding)
        tokenizer.no_padding()
    return removed


Loader = Callable[[TokenizerFile, BackendOptions], Backend]


@dataclass(frozen=True)
class BackendSpec:
    """Everything modelcard knows about a backend before loading it."""

    #: The canonical name, as settings and ``Tokenizer.backend`` spell it.
    name: str
    #: ``load(file, options)`` -> a :class:`Backend`; raises BackendRefusedError with a
    #: plain-words reason when it cannot serve the file.
    load: Loader
    #: Other spellings accepted in settings (matched case-insensitively).
    aliases: tuple[str, ...] = ()
    #: The source forms it can load.
    sources: frozenset[str] = frozenset({TOKENIZER_JSON})
    capabilities: frozenset[Capability] = frozenset({"encode", "decode", "stream"})
    #: The :class:`BackendOptions` fields it reads.
    options: tuple[str, ...] = ()
    #: Its place in ``tokenizer=auto``'s order (lower first); None: auto never picks it.
    auto_rank: int | None = None
    #: The backend it must agree with and falls back to; None: the form's reference.
    reference: str | None = None
    #: True when its ``decode`` rejects negative, non-int and over-32-bit ids itself (with
    #: TypeError or OverflowError), so the facade need not check them first.
    checks_ids: bool = False
    #: One line for help texts.
    summary: str = ""
    #: The distribution that provides it, for "pip install ..." hints.
    requires: str | None = None

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def open(self, file: TokenizerFile, options: BackendOptions) -> Backend:
        """Load this backend for ``file``; any failure becomes BackendRefusedError.

        A plugin's loader may raise anything a library raises; it is a refusal with the
        failure as its reason, never an untranslated error.
        """
        if file.form not in self.sources:
            raise BackendRefusedError(
                f"{self.name} cannot load {file.form} files (it loads: "
                f"{', '.join(sorted(self.sources))})"
            )
        try:
            return self.load(file, options)
        except BackendRefusedError:
            raise
        except BaseException as exc:
            if isinstance(exc, ModelCardError) or not is_library_failure(exc):
                raise
            raise BackendRefusedError(describe(exc)) from exc
