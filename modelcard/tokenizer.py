"""The wrapped tokenizer: one API whatever backend encodes.

``Tokenizer`` is a thin facade over a loaded backend (see :mod:`modelcard.backends`):
the hot path calls the library's own bound methods, and what happens when one fails is
the backend's business (the fallback composite encodes the input with the reference).

Defaults are the same on every backend, and are not either library's own:
``add_special_tokens=False`` when encoding and ``skip_special_tokens=False`` when
decoding (HF ``tokenizers`` defaults both to True, fastokens both to False).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, overload

from ._flat import flatten_rows
from ._ids import MAX_ID, bad_id, check_ids, id_list
from ._translate import decode_failure
from .chat import prepare_chat, render_prepared, select_template
from .companions import SPECIAL_TOKEN_NAMES
from .errors import InvalidTokenIdError
from .safe_chat import ControlTokens, forged, guarded_ids, unmappable_error
from .stream import DecodeStream

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from .backends import Backend
    from .card import ModelCard
    from .companions import CardConfig
    from .safe_chat import AddedToken
    from .sources import ResolvedSource

__all__ = ["FlatBatch", "Tokenizer"]


class FlatBatch(NamedTuple):
    """A batch encoded into two flat arrays, with no per-token Python objects.

    Input ``i``'s ids are ``ids[offsets[i]:offsets[i + 1]]``.
    """

    ids: NDArray[np.uint32]
    offsets: NDArray[np.uint64]

    def row(self, i: int) -> NDArray[np.uint32]:
        return self.ids[int(self.offsets[i]) : int(self.offsets[i + 1])]

    def rows(self) -> list[list[int]]:
        """Every row as a list of ids."""
        ids = self.ids.tolist()
        bounds = self.offsets.tolist()
        return [ids[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)]


class Tokenizer:
    """A loaded model card: its backend, special tokens, chat template.

    Thread-safe: one instance may be shared by every thread of a server. Pickles as its
    settings plus the card fingerprint; unpickling reloads from the cache and checks it.
    """

    def __init__(
        self,
        *,
        backend: Backend,
        card: ModelCard,
        source: ResolvedSource,
        config: CardConfig,
        fingerprint: str,
        fallback_reason: str | None,
        added_tokens: Sequence[AddedToken] = (),
        form_details: dict[str, Any] | None = None,
    ) -> None:
        #: The library that encodes, e.g. "fastokens", or "huggingface" after a fallback.
        self.backend: str = backend.name
        #: The library that decodes and streams (the encoder unless DYN_DECODER says).
        self.decoder: str = backend.decoder
        #: The settings this tokenizer was loaded from, pinned to its fingerprint (and, for
        #: hub repos, to the resolved commit).
        self.card = card
        self.source = source
        self.config = config
        self.fingerprint = fingerprint
        #: Why the requested backend was not used, when it was not.
        self.fallback_reason = fallback_reason
        #: The rewrites the backend serves the file after, e.g. ("roberta-template",).
        self.rewrites: tuple[str, ...] = tuple(getattr(backend, "rewrites", ()))
        #: What ``inspect`` shows of the tokenizer file beyond its name (a tiktoken file's
        #: pattern and where it came from, its special tokens).
        self.form_details: dict[str, Any] = form_details or {}
        self.vocab_size: int = backend.vocab_size
        self._backend = backend
        self._encode = backend.encode
        self._encode_split = backend.encode_split
        self._encode_batch = backend.encode_batch
        self._encode_batch_split = backend.encode_batch_split
        self._decode = backend.decode
        self._decode_batch = backend.decode_batch
        self._library_checks_ids = backend.checks_ids
        self._vocab: dict[str, int] | None = None
        self._added_tokens = tuple(added_tokens)
        self._controls: dict[str, ControlTokens] = {}

    # -- encoding -----------------------------------------------------------------------

    def encode(
        self, text: str, *, add_special_tokens: bool = False, split_special_tokens: bool = False
    ) -> list[int]:
        """Token ids of ``text``.

        Special-token strings in the text become their control ids, unless
        ``split_special_tokens`` is true: then they are ordinary text, so untrusted text
        cannot produce a control token (decode gives the text back). Other added tokens
        match either way, as in HF tokenizers and transformers.
        """
        try:
            if split_special_tokens:
                return self._encode_split(text, add_special_tokens=add_special_tokens).ids
            return self._encode(text, add_special_tokens=add_special_tokens).ids
        except BaseException as exc:
            return self._backend.encode_failed(exc, text, add_special_tokens, split_special_tokens)

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        add_special_tokens: bool = False,
        split_special_tokens: bool = False,
    ) -> list[list[int]]:
        """Token ids of each text, encoded in parallel by the backend."""
        try:
            batch = self._encode_batch_split if split_special_tokens else self._encode_batch
            return [e.ids for e in batch(texts, add_special_tokens=add_special_tokens)]
        except BaseException as exc:
            return self._backend.encode_batch_failed(
                exc, texts, add_special_tokens, split_special_tokens
            )

    def encode_batch_flat(
        self,
        texts: Sequence[str],
        *,
        add_special_tokens: bool = False,
        split_special_tokens: bool = False,
    ) -> FlatBatch:
        """Encode a batch into numpy arrays (uint32 ids, uint64 offsets), for bulk jobs."""
        batch = texts if isinstance(texts, list) else list(texts)
        try:
            ids, offsets = self._backend.encode_batch_flat(
                batch, add_special_tokens, split_special_tokens
            )
        except BaseException as exc:
            rows = self._backend.encode_batch_failed(
                exc, batch, add_special_tokens, split_special_tokens
            )
            ids, offsets = flatten_rows(rows)
        return FlatBatch(ids, offsets)

    def encode_segments(
        self, segments: Sequence[tuple[str, bool]], *, add_special_tokens: bool = False
    ) -> list[int]:
        """Ids of ``(text, allow_special)`` pieces, encoded in one call.

        Each piece is encoded on its own and the ids are joined, as fastokens'
        ``encode_segments`` does: added tokens (special or not) match only in pieces
        with ``allow_special=True`` (say, what a chat template wrote), never in the
        others (what a user wrote), which are encoded as plain text. With
        ``add_special_tokens`` the post-processor's tokens (BOS...) go around the whole.
        """
        try:
            return self._backend.encode_segments(segments, add_special_tokens)
        except BaseException as exc:
            return self._backend.encode_segments_failed(exc, segments, add_special_tokens)

    @property
    def encode_fallbacks(self) -> int:
        """How many single inputs the reference encoded because the backend failed on them."""
        count: int = self._backend.stats().get("encode_fallbacks", 0)
        return count

    def stats(self) -> dict[str, Any]:
        """Counters: the backends in use, per-call fallbacks, the decoder, caches."""
        return {
            "backend": self.backend,
            "decoder": self.decoder,
            "encode_fallbacks": 0,
            **self._backend.stats(),
        }

    # -- decoding -----------------------------------------------------------------------

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        """Text of ``ids``.

        An id at or past ``vocab_size`` adds no text: models often have more embedding rows
        than the tokenizer has tokens, and may sample one (HF tokenizers and vLLM do the
        same). A negative, non-int or bool id raises :class:`InvalidTokenIdError`; numpy
        integers are fine.
        """
        ids = id_list(ids)
        check_ids(ids, library_checks=self._library_checks_ids)
        try:
            text: str = self._decode(ids, skip_special_tokens=skip_special_tokens)
        except BaseException as exc:
            raise decode_failure(exc, ids) from exc
        return text

    def decode_batch(
        self, batch: Sequence[Sequence[int]] | FlatBatch, skip_special_tokens: bool = False
    ) -> list[str]:
        """Text of each id sequence; a :class:`FlatBatch` is read as its rows."""
        if isinstance(batch, FlatBatch):
            rows = batch.rows()
        elif isinstance(batch, (str, bytes)) or not hasattr(batch, "__iter__"):
            raise TypeError("decode_batch() takes a sequence of id sequences or a FlatBatch")
        else:
            rows = [id_list(ids) for ids in batch]
        for number, row in enumerate(rows):
            try:
                check_ids(row, library_checks=self._library_checks_ids)
            except ValueError:
                raise bad_id(row, f"In sequence {number}: ") from None
        try:
            texts: list[str] = self._decode_batch(rows, skip_special_tokens=skip_special_tokens)
        except BaseException as exc:
            if isinstance(exc, (TypeError, OverflowError)):
                for number, row in enumerate(rows):
                    try:
                        check_ids(row, library_checks=False)
                    except InvalidTokenIdError:
                        raise bad_id(row, f"In sequence {number}: ") from exc
            raise decode_failure(exc, []) from exc
        return texts

    def decode_stream(
        self, prompt_ids: Sequence[int] = (), skip_special_tokens: bool = False
    ) -> DecodeStream:
        """A stream that turns generated ids into text; ``prompt_ids`` give it context.

        Only the last few prompt ids are kept, so a long prompt costs nothing per token.
        """
        return DecodeStream(
            self._backend, prompt_ids=prompt_ids, skip_special_tokens=skip_special_tokens
        )

    # -- vocabulary ---------------------------------------------------------------------

    def __len__(self) -> int:
        """The vocabulary's size, added tokens included (``len(tokenizer)`` in transformers)."""
        return self.vocab_size

    def get_vocab(self) -> dict[str, int]:
        """Every token and its id, added tokens included."""
        vocab = self._vocab
        if vocab is None:
            vocab = self._vocab = self._backend.get_vocab()
        return dict(vocab)

    def token_to_id(self, token: str) -> int | None:
        """The id of ``token`` in the vocabulary (added tokens included), or None."""
        found: int | None = self._backend.token_to_id(token)
        return found

    def id_to_token(self, token_id: int) -> str | None:
        """The token string of ``token_id``, or None when no token has that id."""
        if isinstance(token_id, bool) or not hasattr(token_id, "__index__"):
            raise bad_id([token_id])
        token_id = token_id.__index__()
        # Not a range check on vocab_size: that counts tokens, and a vocabulary with gaps
        # (cl100k's) has ids above it.
        if not 0 <= token_id <= MAX_ID:
            return None
        token: str | None = self._backend.id_to_token(token_id)
        return token

    @overload
    def convert_tokens_to_ids(self, tokens: str) -> int | None: ...  # type: ignore[overload-overlap]

    @overload
    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> list[int | None]: ...

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int | None] | None:
        """Ids of tokens, as transformers gives them: an unknown token is the unk id (None
        when the tokenizer names no unk token)."""
        if isinstance(tokens, str):
            found = self.token_to_id(tokens)
            return found if found is not None else self.unk_token_id
        return [self.convert_tokens_to_ids(t) for t in tokens]

    @overload
    def convert_ids_to_tokens(self, ids: int, skip_special_tokens: bool = False) -> str | None: ...

    @overload
    def convert_ids_to_tokens(
        self, ids: Sequence[int], skip_special_tokens: bool = False
    ) -> list[str | None]: ...

    def convert_ids_to_tokens(
        self, ids: int | Sequence[int], skip_special_tokens: bool = False
    ) -> str | list[str | None] | None:
        """Tokens of ids, as transformers gives them (None past the vocabulary);
        ``skip_special_tokens`` leaves out :attr:`all_special_ids`."""
        if not isinstance(ids, Sequence):
            converted: Any = ids.tolist() if hasattr(ids, "tolist") else ids  # numpy
            if isinstance(converted, list):
                return self.convert_ids_to_tokens(converted, skip_special_tokens)
            return self.id_to_token(converted)
        skipped = set(self.all_special_ids) if skip_special_tokens else set()
        return [self.id_to_token(i) for i in id_list(ids) if i not in skipped]

    # -- the card -----------------------------------------------------------------------

    @property
    def eos_token_ids(self) -> tuple[int, ...]:
        """Every id that ends generation: generation_config, config and the tokenizer's eos."""
        return self.config.eos_token_ids

    def _named_id(self, name: str) -> int | None:
        token = self.config.special_tokens.get(name)
        return None if token is None else self.convert_tokens_to_ids(token)

    @property
    def eos_token_id(self) -> int | None:
        """The tokenizer's ``eos_token`` as an id, as transformers gives it (one id).

        Generation may stop on more: see :attr:`eos_token_ids`.
        """
        return self._named_id("eos_token")

    @property
    def bos_token_id(self) -> int | None:
        """The tokenizer's ``bos_token`` as an id, or None, as in transformers."""
        return self._named_id("bos_token")

    @property
    def pad_token_id(self) -> int | None:
        """The tokenizer's ``pad_token`` as an id, or None, as in transformers."""
        return self._named_id("pad_token")

    @property
    def unk_token_id(self) -> int | None:
        """The tokenizer's ``unk_token`` as an id, or None, as in transformers."""
        token = self.config.special_tokens.get("unk_token")
        return None if token is None else self.token_to_id(token)

    @property
    def all_special_tokens(self) -> list[str]:
        """Named special tokens (bos, eos, unk, sep, pad, cls, mask), then the extra ones,
        each once: transformers' list."""
        named = [self.config.special_tokens.get(n) for n in SPECIAL_TOKEN_NAMES]
        found = [t for t in named if t is not None] + list(self.config.extra_special_tokens)
        return list(dict.fromkeys(found))

    @property
    def all_special_ids(self) -> list[int | None]:
        """:attr:`all_special_tokens` as ids."""
        return [self.convert_tokens_to_ids(t) for t in self.all_special_tokens]

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
        trust_content: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Render ``messages`` into a prompt with the card's chat template.

        Returns the prompt text, or its ids when ``tokenize=True`` (encoded without
        adding special tokens: the template writes them). ``chat_template`` picks a named
        template or passes one inline; extra keyword arguments reach the template.
        Unlike transformers, ``add_generation_prompt`` defaults to True: a serving
        frontend renders prompts for the model to answer.

        With ``tokenize=True`` only the template's own control tokens become control ids:
        special-token strings (and the added tokens the template spells itself) inside
        messages, tool calls, tool results and documents are encoded as text, so content
        cannot forge a turn. Content without them gets exactly transformers' ids; other
        non-special added tokens match in content as in transformers.
        ``trust_content=True`` encodes the rendered prompt as one string, as transformers
        does, special-token strings in content included. Raises
        :class:`~modelcard.errors.ChatContentError` when the template transforms such
        content in a way that cannot keep it text.
        """
        prompt = self._chat(
            messages,
            add_generation_prompt=add_generation_prompt,
            tools=tools,
            documents=documents,
            chat_template=chat_template,
            continue_final_message=continue_final_message,
            guard=tokenize and not trust_content,
            extra=kwargs,
        )
        if tokenize:
            return prompt if isinstance(prompt, list) else self.encode(prompt)
        return prompt

    def _chat(
        self,
        messages: Sequence[Any],
        *,
        add_generation_prompt: bool,
        tools: Sequence[Any] | None,
        documents: Sequence[Any] | None,
        chat_template: str | None,
        continue_final_message: bool,
        guard: bool,
        extra: Mapping[str, Any],
    ) -> str | list[int]:
        """The rendered prompt, or with ``guard`` its ids when content holds special-token
        strings (a prompt returned as text is then safe to encode as one string)."""
        template = select_template(self.config.chat_templates, chat_template, tools)
        prepared = prepare_chat(
            template,
            messages,
            add_generation_prompt=add_generation_prompt,
            tools=tools,
            documents=documents,
            continue_final_message=continue_final_message,
            special_tokens=self.config.special_tokens,
            extra=extra,
        )
        if not guard:
            return render_prepared(prepared)
        controls = self._controls.get(template)
        if controls is None:
            controls = ControlTokens(self._added_tokens, template)
            if len(self._controls) < 16:
                self._controls[template] = controls
        plain: str | None = None
        # The template's non-special added tokens are guarded too ("strict"), unless the
        # template reads them in content (Qwen3 splits on '</think>'): then as transformers.
        for level in ("strict", "special"):
            masked = controls.mask(
                prepared.chat, prepared.tools, prepared.documents, prepared.strings(), level
            )
            if masked is None:
                return render_prepared(prepared) if plain is None else plain
            guarded = render_prepared(
                prepared, chat=masked.chat, tools=masked.tools, documents=masked.documents
            )
            if plain is None:
                plain = render_prepared(prepared)
            ids = guarded_ids(
                controls,
                masked,
                guarded,
                plain,
                self._encode_pieces,
                lambda text: self.encode_segments([(text, False)]),
                self.unk_token_id,
            )
            if ids is not None:
                return ids
            surplus = forged(controls, masked, guarded, plain)
            if not surplus:
                return plain
            if level == "special":
                raise unmappable_error(surplus)
        raise AssertionError("unreachable")

    def _encode_pieces(self, texts: list[str]) -> list[list[int]]:
        """Pieces of a guarded prompt as text; a batch call only pays off for many."""
        if len(texts) > 16:
            return self.encode_batch(texts, split_special_tokens=True)
        return [self.encode(text, split_special_tokens=True) for text in texts]

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
            "form": self.source.form,
            **self.form_details,
            "requested": self.card.tokenizer,
            "backend": self.backend,
            "decoder": self.decoder,
            "fallback_reason": self.fallback_reason,
            "rewrites": list(self.rewrites),
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
