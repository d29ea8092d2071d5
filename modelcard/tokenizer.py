"""The wrapped tokenizer: one API whatever backend encodes.

Defaults are the same on every backend, and are not either library's own:
``add_special_tokens=False`` when encoding and ``skip_special_tokens=False`` when
decoding (HF ``tokenizers`` defaults both to True, fastokens both to False).

Decoding always goes through HF ``tokenizers``, the reference. When fastokens encodes,
the HF tokenizer is loaded separately: on first use by default, so it never delays the
first encode (``DYN_DECODER_LOAD`` chooses ``lazy``, ``background`` or ``eager``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ._flat import flatten_rows
from ._log import get_logger
from ._panic import describe, is_library_failure
from .backends.base import Encoder, strip_limits
from .backends.huggingface import load_hf_tokenizer
from .chat import render_chat, select_template
from .errors import DecodeError, EncodeError, TokenizerLoadError
from .stream import DecodeStream, bad_id, id_list

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from .card import ModelCard
    from .companions import CardConfig
    from .sources import ResolvedSource

__all__ = ["FlatBatch", "Tokenizer"]

log = get_logger("modelcard")


class FlatBatch(NamedTuple):
    """A batch encoded into two flat arrays, with no per-token Python objects.

    Input ``i``'s ids are ``ids[offsets[i]:offsets[i + 1]]``.
    """

    ids: NDArray[np.uint32]
    offsets: NDArray[np.uint64]

    def row(self, i: int) -> NDArray[np.uint32]:
        return self.ids[int(self.offsets[i]) : int(self.offsets[i + 1])]


class _Decoder:
    """The HF tokenizer that decodes, loaded once, on first use, by whichever thread asks."""

    __slots__ = ("_data", "_hf", "_lock", "_path")

    def __init__(self, hf: Any | None, data: bytes | None, path: Path) -> None:
        self._hf = hf
        # tokenizer.json as UTF-8 bytes until the decoder loads: half the memory of a str.
        self._data = data
        self._path = path
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._hf is not None

    def get(self) -> Any:
        hf = self._hf
        if hf is not None:
            return hf
        with self._lock:
            if self._hf is None:
                assert self._data is not None
                try:
                    hf = load_hf_tokenizer(self._data)
                except BaseException as exc:
                    if not is_library_failure(exc):
                        raise
                    raise TokenizerLoadError(
                        f"HF tokenizers cannot load {self._path} for decoding: {describe(exc)}"
                    ) from exc
                # Limits were reported when the encoder loaded; the decoder only needs them off.
                strip_limits(hf)
                self._hf = hf
                self._data = None
            return self._hf

    def load_in_background(self) -> None:
        if self._hf is None:
            threading.Thread(target=self._quiet_get, name="modelcard-decoder", daemon=True).start()

    def _quiet_get(self) -> None:
        # A failure is raised again, to the caller, on first real use.
        with contextlib.suppress(TokenizerLoadError):
            self.get()


class Tokenizer:
    """A loaded model card: encoder, decoder, special tokens, chat template.

    Thread-safe: one instance may be shared by every thread of a server. Pickles as its
    settings plus the card fingerprint; unpickling reloads from the cache and checks it.
    """

    def __init__(
        self,
        *,
        encoder: Encoder,
        decoder: _Decoder,
        card: ModelCard,
        source: ResolvedSource,
        config: CardConfig,
        fingerprint: str,
        fallback_reason: str | None,
    ) -> None:
        #: Which library encodes: "fastokens" or "huggingface".
        self.backend: str = encoder.name
        #: The settings this tokenizer was loaded from, pinned to its fingerprint (and, for
        #: hub repos, to the resolved commit).
        self.card = card
        self.source = source
        self.config = config
        self.fingerprint = fingerprint
        #: Why the requested backend was not used, when it was not.
        self.fallback_reason = fallback_reason
        self.vocab_size: int = encoder.vocab_size
        self._encoder = encoder
        self._encode = encoder.encode
        self._encode_batch = encoder.encode_batch
        self._decoder = decoder
        #: The HF tokenizer that decodes, once loaded (see DYN_DECODER_LOAD).
        self._hf: Any | None = encoder.hf_tokenizer
        self._strict = not card.tokenizer_fallback
        self._count_lock = threading.Lock()
        self._encode_fallbacks = 0
        self._fallback_reasons: set[str] = set()

    # -- encoding -----------------------------------------------------------------------

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        """Token ids of ``text``. Special-token strings in the text become their ids."""
        try:
            return self._encode(text, add_special_tokens=add_special_tokens).ids
        except BaseException as exc:
            return self._retry_encode(exc, text, add_special_tokens)

    def encode_batch(
        self, texts: Sequence[str], add_special_tokens: bool = False
    ) -> list[list[int]]:
        """Token ids of each text, encoded in parallel by the backend."""
        try:
            return [e.ids for e in self._encode_batch(texts, add_special_tokens=add_special_tokens)]
        except BaseException as exc:
            return self._retry_batch(exc, texts, add_special_tokens)

    def encode_batch_flat(
        self, texts: Sequence[str], add_special_tokens: bool = False
    ) -> FlatBatch:
        """Encode a batch into numpy arrays (uint32 ids, uint64 offsets), for bulk jobs."""
        batch = texts if isinstance(texts, list) else list(texts)
        try:
            ids, offsets = self._encoder.encode_batch_flat(batch, add_special_tokens)
        except BaseException as exc:
            ids, offsets = flatten_rows(self._retry_batch(exc, batch, add_special_tokens))
        return FlatBatch(ids, offsets)

    def _retry_encode(self, exc: BaseException, text: str, add_special_tokens: bool) -> list[int]:
        if not is_library_failure(exc):
            raise exc
        if not isinstance(text, str):
            raise TypeError(f"encode() takes a str, not {type(text).__name__}") from None
        if self._encoder.hf_tokenizer is not None or self._strict:
            raise EncodeError(self._encode_failure(exc, text)) from exc
        ids: list[int] = self._hf_encode(text, add_special_tokens, exc)
        return ids

    def _retry_batch(
        self, exc: BaseException, texts: Sequence[str], add_special_tokens: bool
    ) -> list[list[int]]:
        if not is_library_failure(exc):
            raise exc
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("encode_batch() takes a sequence of str") from None
        # Find the inputs that fail, so the rest stay on the fast path.
        return [self.encode(t, add_special_tokens) for t in texts]

    def _encode_failure(self, exc: BaseException, text: str) -> str:
        fix = (
            "Set DYN_TOKENIZER_FALLBACK=true to encode such inputs with HF tokenizers "
            "instead, or DYN_TOKENIZER=default."
            if self._strict and self._encoder.hf_tokenizer is None
            else "This input cannot be encoded by this tokenizer."
        )
        return (
            f"{self.backend} failed to encode a {len(text)}-character input: {describe(exc)}. {fix}"
        )

    def _hf_encode(self, text: str, add_special_tokens: bool, exc: BaseException) -> list[int]:
        hf = self._hf or self._load_decoder()
        reason = describe(exc)
        with self._count_lock:
            self._encode_fallbacks += 1
            count = self._encode_fallbacks
            # Warn once per distinct reason, so a bad input pattern cannot flood a server's
            # log; repeats go to debug and the count keeps every one.
            first = reason not in self._fallback_reasons and len(self._fallback_reasons) < 256
            if first:
                self._fallback_reasons.add(reason)
        (log.warning if first else log.debug)(
            "encode_fallback",
            requested=self.backend,
            selected="huggingface",
            reason=reason,
            chars=len(text),
            count=count,
            path=str(self.source.tokenizer_json),
        )
        try:
            ids: list[int] = hf.encode(text, add_special_tokens=add_special_tokens).ids
        except BaseException as hf_exc:
            if not is_library_failure(hf_exc):
                raise
            raise EncodeError(
                f"Both {self.backend} ({describe(exc)}) and HF tokenizers "
                f"({describe(hf_exc)}) failed to encode a {len(text)}-character input."
            ) from hf_exc
        return ids

    @property
    def encode_fallbacks(self) -> int:
        """How many single inputs were encoded by HF because the fast backend failed on them."""
        return self._encode_fallbacks

    def stats(self) -> dict[str, Any]:
        """Counters: per-call fallbacks, and the fastokens segment cache when it is on."""
        cache = getattr(self._encoder, "segment_cache_stats", None)
        return {
            "backend": self.backend,
            "encode_fallbacks": self._encode_fallbacks,
            "decoder_loaded": self._decoder.loaded,
            "segment_cache": cache() if callable(cache) else None,
        }

    # -- decoding -----------------------------------------------------------------------

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        """Text of ``ids``, decoded by HF tokenizers.

        An id at or past ``vocab_size`` adds no text: models often have more embedding rows
        than the tokenizer has tokens, and may sample one (HF tokenizers and vLLM do the
        same). A negative or non-int id raises :class:`InvalidTokenIdError`.
        """
        hf = self._hf or self._load_decoder()
        ids = id_list(ids)
        try:
            text: str = hf.decode(ids, skip_special_tokens=skip_special_tokens)
        except BaseException as exc:
            raise self._decode_error(exc, ids) from exc
        return text

    def decode_batch(
        self, batch: Sequence[Sequence[int]], skip_special_tokens: bool = False
    ) -> list[str]:
        """Text of each id sequence."""
        hf = self._hf or self._load_decoder()
        rows = [id_list(ids) for ids in batch]
        try:
            texts: list[str] = hf.decode_batch(rows, skip_special_tokens=skip_special_tokens)
        except BaseException as exc:
            if not is_library_failure(exc) or not isinstance(exc, (TypeError, OverflowError)):
                raise self._decode_error(exc, []) from exc
            for number, row in enumerate(rows):
                try:
                    hf.decode(row, skip_special_tokens=skip_special_tokens)
                except (TypeError, OverflowError):
                    raise bad_id(row, f"In sequence {number}: ") from exc
            raise self._decode_error(exc, []) from exc
        return texts

    def _load_decoder(self) -> Any:
        self._hf = self._decoder.get()
        return self._hf

    def _decode_error(self, exc: BaseException, ids: list[Any]) -> BaseException:
        if not is_library_failure(exc):
            return exc
        if isinstance(exc, (TypeError, OverflowError)):
            return bad_id(ids)
        return DecodeError(f"Decoding {len(ids)} ids failed: {describe(exc)}")

    def decode_stream(
        self, prompt_ids: Sequence[int] = (), skip_special_tokens: bool = False
    ) -> DecodeStream:
        """A stream that turns generated ids into text; ``prompt_ids`` give it context.

        Only the last few prompt ids are kept, so a long prompt costs nothing per token.
        """
        return DecodeStream(
            self._hf or self._load_decoder(),
            self.vocab_size,
            prompt_ids=prompt_ids,
            skip_special_tokens=skip_special_tokens,
        )

    # -- vocabulary ---------------------------------------------------------------------

    def token_to_id(self, token: str) -> int | None:
        """The id of ``token`` in the vocabulary (added tokens included), or None."""
        found: int | None = self._encoder.token_to_id(token)
        return found

    def id_to_token(self, token_id: int) -> str | None:
        """The token string of ``token_id``, or None when the id is not in the vocabulary."""
        if isinstance(token_id, bool) or not isinstance(token_id, int):
            raise bad_id([token_id])
        if not 0 <= token_id < self.vocab_size:
            return None
        token: str | None = self._encoder.id_to_token(token_id)
        return token

    # -- the card -----------------------------------------------------------------------

    @property
    def eos_token_ids(self) -> tuple[int, ...]:
        """Every id that ends generation: generation_config, config and the tokenizer's eos."""
        return self.config.eos_token_ids

    @property
    def bos_token_id(self) -> int | None:
        return self.config.bos_token_id

    @property
    def pad_token_id(self) -> int | None:
        return self.config.pad_token_id

    @property
    def context_length(self) -> int | None:
        """The longest prompt the model takes, or None when the card does not say."""
        return self.config.context_length

    @property
    def special_tokens(self) -> dict[str, str]:
        """Named special tokens (``bos_token``, ``eos_token``, ...) as strings."""
        return dict(self.config.special_tokens)

    @property
    def chat_template(self) -> str | None:
        """The default chat template, or None."""
        return self.config.chat_templates.get("default")

    def apply_chat_template(
        self,
        messages: Sequence[Mapping[str, Any]],
        add_generation_prompt: bool = True,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tokenize: bool = False,
        *,
        documents: Sequence[Mapping[str, Any]] | None = None,
        chat_template: str | None = None,
        continue_final_message: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Render ``messages`` into a prompt with the card's chat template.

        Returns the prompt text, or its ids when ``tokenize=True`` (encoded without
        adding special tokens: the template writes them). ``chat_template`` picks a named
        template or passes one inline; extra keyword arguments reach the template.
        Unlike transformers, ``add_generation_prompt`` defaults to True: a serving
        frontend renders prompts for the model to answer.
        """
        template = select_template(self.config.chat_templates, chat_template, tools)
        prompt = render_chat(
            template,
            messages,
            add_generation_prompt=add_generation_prompt,
            tools=tools,
            documents=documents,
            continue_final_message=continue_final_message,
            special_tokens=self.config.special_tokens,
            extra=kwargs,
        )
        if tokenize:
            return self.encode(prompt, add_special_tokens=False)
        return prompt

    # -- identity -----------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Everything ``modelcard inspect`` shows, as JSON-ready data."""
        files = {name: str(path) for name, path in self.source.files.items()}
        return {
            "model": self.source.model,
            "source": self.source.kind,
            "repo_id": self.source.repo_id,
            "revision": self.source.revision,
            "commit": self.source.commit,
            "files": files,
            "requested": self.card.tokenizer,
            "backend": self.backend,
            "fallback_reason": self.fallback_reason,
            "vocab_size": self.vocab_size,
            "fingerprint": self.fingerprint,
            **self.config.as_dict(),
        }

    def __repr__(self) -> str:
        return (
            f"<modelcard.Tokenizer {self.card.model!r} backend={self.backend} "
            f"vocab_size={self.vocab_size} fingerprint={self.fingerprint[:19]}>"
        )

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_reload, (self.card,))


def _reload(card: ModelCard) -> Tokenizer:
    return card.load()
