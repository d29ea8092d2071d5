"""The contenders, and how each one is called for every measure.

Raw libraries are called the way a careful user calls them: special-token flags passed
explicitly (HF defaults ``add_special_tokens`` and ``skip_special_tokens`` to True,
fastokens to False), and the hot loops call the library's bound method directly, so no
frame of ours sits between the clock and the library. modelcard is called through its
public API with its defaults, which are already False/False.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter_ns
from typing import Any

HF = "hf"
FASTOKENS = "fastokens"
MC_DEFAULT = "mc-default"
MC_FASTOKENS = "mc-fastokens"
MC_HYBRID = "mc-hybrid"
TIKTOKEN = "tiktoken"
MC_CACHE = "mc-fastokens+cache"

#: Display order, and the order rotation starts from.
ORDER = (HF, FASTOKENS, MC_DEFAULT, MC_FASTOKENS, MC_HYBRID, TIKTOKEN)
#: Contenders timed only where they differ from another: the hybrid encodes exactly as
#: mc-fastokens does (the same fastokens encoder), so it takes part in decode and stream only.
DECODE_ONLY = frozenset({MC_HYBRID})
ENCODERS = tuple(c for c in ORDER if c not in DECODE_ONLY)
LABELS = {
    HF: "tokenizers (raw)",
    FASTOKENS: "fastokens (raw)",
    MC_DEFAULT: "modelcard default",
    MC_FASTOKENS: "modelcard fastokens",
    MC_HYBRID: "modelcard hybrid (fastokens + HF decoder)",
    TIKTOKEN: "tiktoken",
    MC_CACHE: "modelcard fastokens + segment cache",
}
_ALL = "all"


@dataclass
class Contender:
    """One way of tokenizing one tokenizer.json; ``obj`` is None when it is unavailable."""

    name: str
    kind: str  # "hf", "fastokens", "modelcard" or "tiktoken"
    obj: Any
    unavailable: str | None = None

    @property
    def ok(self) -> bool:
        return self.obj is not None


# -- loading ------------------------------------------------------------------------------


def _strip_limits(tok: Any) -> Any:
    if tok.truncation:
        tok.no_truncation()
    if tok.padding:
        tok.no_padding()
    return tok


def _load_hf(path: Path) -> Any:
    from tokenizers import Tokenizer

    return _strip_limits(Tokenizer.from_file(str(path)))


def load_fastokens(path: Path) -> Any:
    import fastokens

    return _strip_limits(fastokens.Tokenizer.from_file(str(path)))


def load_modelcard(
    directory: Path, backend: str, cache_bytes: int = 0, decoder: str = "auto"
) -> Any:
    """A modelcard tokenizer; the fastokens ones have fallback off, so HF never encodes.

    ``backend`` "default" is modelcard's default (HF tokenizers, canonically "huggingface");
    ``decoder`` "huggingface" with backend "fastokens" is the hybrid.
    """
    from modelcard import ModelCard

    strict = backend == "fastokens"
    card = ModelCard(
        model=str(directory.resolve()),
        tokenizer=backend,
        decoder=decoder,
        tokenizer_fallback=not strict,
        tokenizer_cache_bytes=cache_bytes,
    )
    tok = card.load()
    encoder = "fastokens" if strict else "huggingface"
    expected = (encoder, encoder if decoder == "auto" else decoder)
    if (tok.backend, tok.decoder) != expected:
        raise RuntimeError(
            f"{directory}: modelcard loaded {tok.backend} decoding with {tok.decoder}, "
            f"not {expected[0]} decoding with {expected[1]}"
        )
    return tok


def _attempt(name: str, kind: str, build: Callable[[], Any], verdict: str = "refused") -> Contender:
    try:
        return Contender(name, kind, build())
    except ImportError as exc:
        return Contender(name, kind, None, f"not installed: {exc}")
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Contender(name, kind, None, f"{verdict}: {reason}")


def load_contenders(directory: Path, with_tiktoken: bool = True) -> dict[str, Contender]:
    """Every contender for the tokenizer in ``directory``, available or not (with why)."""
    from .tiktoken_peer import build_encoding

    path = directory / "tokenizer.json"
    found = {
        HF: _attempt(HF, "hf", lambda: _load_hf(path)),
        FASTOKENS: _attempt(FASTOKENS, "fastokens", lambda: load_fastokens(path)),
        MC_DEFAULT: _attempt(MC_DEFAULT, "modelcard", lambda: load_modelcard(directory, "default")),
        MC_FASTOKENS: _attempt(
            MC_FASTOKENS, "modelcard", lambda: load_modelcard(directory, "fastokens")
        ),
        MC_HYBRID: _attempt(
            MC_HYBRID,
            "modelcard",
            lambda: load_modelcard(directory, "fastokens", decoder="huggingface"),
        ),
    }
    if with_tiktoken:
        found[TIKTOKEN] = _attempt(TIKTOKEN, "tiktoken", lambda: build_encoding(path), "n/a")
    return found


# -- ids, for parity checks (not timed) -----------------------------------------------------


def ids_of(c: Contender, text: str) -> list[int]:
    if c.kind == "modelcard":
        return list(c.obj.encode(text))
    if c.kind == "tiktoken":
        return list(c.obj.encode(text, allowed_special=_ALL))
    return list(c.obj.encode(text, add_special_tokens=False).ids)


def text_of(c: Contender, ids: list[int]) -> str:
    if c.kind == "modelcard":
        return str(c.obj.decode(ids))
    if c.kind == "tiktoken":
        return str(c.obj.decode(ids))
    return str(c.obj.decode(ids, skip_special_tokens=False))


# -- single encodes: one clock reading around each call --------------------------------------


def _encode_raw(tok: Any, texts: list[str]) -> tuple[list[int], int]:
    encode, clock, times, tokens = tok.encode, perf_counter_ns, [], 0
    for text in texts:
        t0 = clock()
        ids = encode(text, add_special_tokens=False).ids
        times.append(clock() - t0)
        tokens += len(ids)
    return times, tokens


def _encode_modelcard(tok: Any, texts: list[str]) -> tuple[list[int], int]:
    encode, clock, times, tokens = tok.encode, perf_counter_ns, [], 0
    for text in texts:
        t0 = clock()
        ids = encode(text)
        times.append(clock() - t0)
        tokens += len(ids)
    return times, tokens


def _encode_tiktoken(enc: Any, texts: list[str]) -> tuple[list[int], int]:
    encode, clock, times, tokens = enc.encode, perf_counter_ns, [], 0
    for text in texts:
        t0 = clock()
        ids = encode(text, allowed_special=_ALL)
        times.append(clock() - t0)
        tokens += len(ids)
    return times, tokens


_ENCODE_LOOPS = {
    "hf": _encode_raw,
    "fastokens": _encode_raw,
    "modelcard": _encode_modelcard,
    "tiktoken": _encode_tiktoken,
}


def encode_each(c: Contender, texts: list[str]) -> tuple[list[int], int]:
    """Nanoseconds of each single-text encode of ``texts``, and the tokens they produced."""
    return _ENCODE_LOOPS[c.kind](c.obj, texts)


# -- batch, flat, decode: one call does plenty of work, so a wrapper frame is noise ----------


def batch_fn(c: Contender) -> Callable[[list[str]], Any] | None:
    """``texts -> list of id lists`` in the contender's batch API."""
    tok = c.obj
    if c.kind == "modelcard":
        return tok.encode_batch  # type: ignore[no-any-return]
    if c.kind == "tiktoken":
        return lambda texts: tok.encode_batch(texts, allowed_special=_ALL)
    # HF's encode_batch_fast skips offsets, which ids do not need (modelcard uses it too).
    method = tok.encode_batch_fast if c.kind == "hf" else tok.encode_batch
    return lambda texts: [e.ids for e in method(texts, add_special_tokens=False)]


def flat_fn(c: Contender) -> Callable[[list[str]], Any] | None:
    """``texts -> (uint32 ids, uint64 offsets)`` as numpy arrays; None without such an API."""
    tok = c.obj
    if c.kind == "modelcard":
        return tok.encode_batch_flat  # type: ignore[no-any-return]
    if c.kind != "fastokens":
        return None
    import numpy as np

    def flat(texts: list[str]) -> tuple[Any, Any]:
        ids, offsets = tok.encode_batch_flat(texts, add_special_tokens=False)
        return np.frombuffer(ids, dtype=np.uint32), np.frombuffer(offsets, dtype=np.uint64)

    return flat


def decode_fn(c: Contender) -> Callable[[list[int]], str]:
    tok = c.obj
    if c.kind in ("modelcard", "tiktoken"):
        return tok.decode  # type: ignore[no-any-return]
    return lambda ids: tok.decode(ids, skip_special_tokens=False)


# -- decode streams: setup, then one step per token ------------------------------------------
# The timed loops do nothing with the chunks, so the ratio is the step's own cost; the
# text is checked in a separate, untimed pass (``stream_text``).


def _raw_stream_class(kind: str) -> Any:
    if kind == "hf":
        from tokenizers.decoders import DecodeStream
    else:
        from fastokens._native import DecodeStream
    return DecodeStream


def _stream_raw(tok: Any, new: Any, prompt: list[int], ids: list[int]) -> tuple[int, int]:
    """A raw library's stream: ``new`` is its DecodeStream class, ``step(tok, id)`` per id."""
    clock = perf_counter_ns
    t0 = clock()
    stream = new(ids=prompt or None, skip_special_tokens=False)
    t1 = clock()
    step = stream.step
    t2 = clock()
    for token_id in ids:
        step(tok, token_id)
    t3 = clock()
    return t1 - t0, t3 - t2


def _stream_modelcard(tok: Any, prompt: list[int], ids: list[int]) -> tuple[int, int]:
    clock = perf_counter_ns
    t0 = clock()
    stream = tok.decode_stream(prompt_ids=prompt)
    t1 = clock()
    step = stream.step
    t2 = clock()
    for token_id in ids:
        step(token_id)
    t3 = clock()
    return t1 - t0, t3 - t2


def stream_fn(c: Contender) -> Callable[[list[int], list[int]], tuple[int, int]] | None:
    """``(prompt ids, generated ids) -> (setup ns, steps ns)``; None without streams."""
    tok = c.obj
    if c.kind in ("hf", "fastokens"):
        cls = _raw_stream_class(c.kind)
        return lambda prompt, ids: _stream_raw(tok, cls, prompt, ids)
    if c.kind == "modelcard":
        return lambda prompt, ids: _stream_modelcard(tok, prompt, ids)
    return None


def stream_text(c: Contender, prompt: list[int], ids: list[int]) -> str:
    """The text a stream yields for ``ids`` after ``prompt`` (untimed)."""
    if c.kind in ("hf", "fastokens"):
        raw = _raw_stream_class(c.kind)(ids=prompt or None, skip_special_tokens=False)
        chunks = [raw.step(c.obj, i) for i in ids]
    else:
        stream = c.obj.decode_stream(prompt_ids=prompt)
        chunks = [stream.step(i) for i in ids]
    return "".join(chunk for chunk in chunks if chunk)
