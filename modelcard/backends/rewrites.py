"""Rewrites: a tokenizer.json that fastokens refuses, rewritten in memory into a form it
accepts that encodes, decodes and streams exactly as HF ``tokenizers`` does on the
original file.

Each rewrite is a small named function in :data:`REWRITES`, the one place they are
registered. ``applies(data)`` says whether the file (parsed JSON) has the form it handles
*and* the conditions under which its equality with HF holds; ``apply(data)`` changes the
parsed file in place and returns a :data:`Patch` that finishes the job on the loaded
backend (a Python step around fastokens), or None. A rewrite is registered only once
``modelcard verify --full-variants`` showed 0 mismatches against HF on the whole shared
corpus for every real file it applies to (docs/rewrites.md has the commands and results).

``DYN_TOKENIZER_REWRITE=false`` turns them off; fastokens then refuses as before.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import segmented
from .added_split import AddedToken

if TYPE_CHECKING:
    from .fastokens import FastokensBackend

__all__ = ["REWRITES", "Rewrite", "applicable", "apply_all"]

Data = dict[str, Any]
#: Finishes a rewrite on the loaded backend; built from the original file's data.
Patch = Callable[["FastokensBackend"], None]


@dataclass(frozen=True)
class Rewrite:
    """One named rewrite: when it applies, and what it does."""

    name: str
    applies: Callable[[Data], bool]
    apply: Callable[[Data], Patch | None]
    #: One line for docs and logs: what it turns into what.
    summary: str


# -- vocab-gaps: ids missing from the vocabulary, or an empty-string token -------------

#: A filler holds NUL, which no ByteLevel piece can contain (byte 0 is 'Ā' there), and
#: no merge builds it: BPE can never produce it, so encodes are unchanged.
_FILLER = "\x00modelcard-unreachable-{}\x00"


def _is_bpe(data: Data) -> bool:
    model = data.get("model") or {}
    return (
        isinstance(model.get("vocab"), dict)
        and "merges" in model
        and (model.get("type") in (None, "BPE"))
    )


def _has_byte_level(component: Any) -> bool:
    if not isinstance(component, dict):
        return False
    if component.get("type") == "ByteLevel":
        return True
    return any(_has_byte_level(c) for c in component.get("pretokenizers") or ())


#: More missing ids than this is a broken file, not a vocabulary to fill.
_MAX_FILLED = 1 << 20


def _hidden_ids(data: Data) -> dict[int, str | None]:
    """Ids fastokens cannot load as they are -> what HF's ``id_to_token`` gives for them."""
    vocab: dict[str, int] = data["model"]["vocab"]
    added = {t["id"] for t in data.get("added_tokens") or ()}
    taken = set(vocab.values())
    top = max(taken, default=-1)
    taken |= added
    missing = top + 1 - sum(1 for i in taken if isinstance(i, int) and 0 <= i <= top)
    if missing > _MAX_FILLED:  # counted first: a broken file may say 2**40
        raise ValueError(f"{missing} ids missing; at most {_MAX_FILLED} are filled")
    hidden: dict[int, str | None] = {i: None for i in range(top + 1) if i not in taken}
    if "" in vocab:
        hidden[vocab[""]] = ""
    return hidden


def _gaps_apply(data: Data) -> bool:
    if not (_is_bpe(data) and _has_byte_level(data.get("pre_tokenizer"))):
        return False
    try:
        return bool(_hidden_ids(data))
    except (ValueError, TypeError):
        return False


def _fill_gaps(data: Data) -> Patch:
    model = data["model"]
    vocab: dict[str, int] = model["vocab"]
    added = [t["content"] for t in data.get("added_tokens") or ()]
    # HF counts distinct token strings, vocabulary and added tokens together.
    vocab_size = len(set(vocab) | set(added))
    full_vocab = {**vocab, **{t["content"]: t["id"] for t in data.get("added_tokens") or ()}}
    hidden = _hidden_ids(data)
    empty_id = vocab.get("")
    vocab.pop("", None)
    fillers = {_FILLER.format(i): i for i in hidden}
    vocab.update(fillers)

    def patch(backend: FastokensBackend) -> None:
        _hide_ids(backend, hidden, frozenset(fillers), empty_id, vocab_size, full_vocab)

    return patch


def _hide_ids(
    backend: FastokensBackend,
    hidden: dict[int, str | None],
    fillers: frozenset[str],
    empty_id: int | None,
    vocab_size: int,
    full_vocab: dict[str, int],
) -> None:
    """HF's answers at the filled ids: no token, no text (the empty token decodes to '')."""
    raw_decode, raw_decode_batch = backend.decode, backend.decode_batch
    raw_id_to_token, raw_token_to_id = backend.id_to_token, backend.token_to_id
    ids_hidden = frozenset(hidden)

    def shown(ids: Sequence[int]) -> list[int]:
        return [i for i in ids if i not in ids_hidden]

    def decode(ids: list[int], skip_special_tokens: bool = False) -> str:
        if ids_hidden.isdisjoint(ids):
            return raw_decode(ids, skip_special_tokens)
        return raw_decode(shown(ids), skip_special_tokens)

    def decode_batch(rows: list[list[int]], skip_special_tokens: bool = False) -> list[str]:
        return raw_decode_batch([shown(row) for row in rows], skip_special_tokens)

    def id_to_token(token_id: int) -> str | None:
        if token_id in hidden:
            return hidden[token_id]
        return raw_id_to_token(token_id)

    def token_to_id(token: str) -> int | None:
        if token in fillers:
            return None
        if token == "" and empty_id is not None:
            return empty_id
        return raw_token_to_id(token)

    backend.decode, backend.decode_batch = decode, decode_batch
    backend.id_to_token, backend.token_to_id = id_to_token, token_to_id
    backend.vocab_size = vocab_size
    backend.hidden_ids = ids_hidden
    backend.get_vocab = lambda: dict(full_vocab)  # type: ignore[method-assign]


# -- roberta-template: RobertaProcessing as the TemplateProcessing it equals -----------


def _roberta_applies(data: Data) -> bool:
    post = data.get("post_processor")
    return isinstance(post, dict) and post.get("type") == "RobertaProcessing"


def _roberta_template(data: Data) -> None:
    post = data["post_processor"]
    (sep, sep_id), (cls, cls_id) = post["sep"], post["cls"]

    def special(name: str) -> dict[str, Any]:
        return {"SpecialToken": {"id": name, "type_id": 0}}

    def seq(name: str) -> dict[str, Any]:
        return {"Sequence": {"id": name, "type_id": 0}}

    # trim_offsets and add_prefix_space change offsets only, never ids; RoBERTa gives
    # every token type id 0, the pair's second sequence included.
    data["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [special(cls), seq("A"), special(sep)],
        "pair": [special(cls), seq("A"), special(sep), special(sep), seq("B"), special(sep)],
        "special_tokens": {
            cls: {"id": cls, "ids": [cls_id], "tokens": [cls]},
            sep: {"id": sep, "ids": [sep_id], "tokens": [sep]},
        },
    }


# -- metaspace: the Metaspace pre-tokenizer as a Replace normalizer --------------------


def _metaspace_scheme(pre: Data) -> str:
    scheme = pre.get("prepend_scheme")
    if scheme is None:  # files older than prepend_scheme
        scheme = "always" if pre.get("add_prefix_space", True) else "never"
    return str(scheme)


def _metaspace_applies(data: Data) -> bool:
    """Metaspace alone, 'first' or 'never', a one-character replacement, on a BPE model.

    'always' prepends to every segment between added tokens unless it starts with the
    replacement; no normalizer does that, so it stays refused. Equality also needs added
    tokens that the Replace cannot change or move: none holds a space or the replacement,
    and for 'first' none strips or matches whole words (the prepend is decided in Python
    from whether an added token starts the text), and no normalizer runs before.
    """
    pre = data.get("pre_tokenizer")
    if not (_is_bpe(data) and isinstance(pre, dict) and pre.get("type") == "Metaspace"):
        return False
    replacement = pre.get("replacement", "▁")
    scheme = _metaspace_scheme(pre)
    if scheme not in ("first", "never") or len(replacement) != 1:
        return False
    if _lacks_normalizer(data):  # metaspace-in-python runs both in Python
        return False
    if data.get("normalizer") is not None and scheme == "first":
        return False
    for token in data.get("added_tokens") or ():
        if " " in token["content"] or replacement in token["content"]:
            return False
        if scheme == "first" and (token.get("lstrip") or token.get("single_word")):
            return False
    return True


def _metaspace_split(pre: Data, replacement: str) -> Data | None:
    """What Metaspace's ``split`` calls: a split before each replacement; else none."""
    if not pre.get("split", True):
        return None
    return {
        "type": "Split",
        "pattern": {"String": replacement},
        "behavior": "MergedWithNext",
        "invert": False,
    }


def _metaspace_normalizer(data: Data) -> Patch | None:
    pre = data["pre_tokenizer"]
    replacement = pre.get("replacement", "▁")
    scheme = _metaspace_scheme(pre)
    replace = {"type": "Replace", "pattern": {"String": " "}, "content": replacement}
    normalizer = data.get("normalizer")
    data["normalizer"] = (
        replace
        if normalizer is None
        else {"type": "Sequence", "normalizers": [normalizer, replace]}
    )
    data["pre_tokenizer"] = _metaspace_split(pre, replacement)
    if scheme != "first":
        return None
    tokens = data.get("added_tokens") or ()
    every = tuple(t["content"] for t in tokens)
    plain = tuple(t["content"] for t in tokens if not t.get("special", False))

    def patch(backend: FastokensBackend) -> None:
        _prepend_first(backend, replacement, every, plain)

    return patch


def _first_prepend(replacement: str, added: tuple[str, ...]) -> Callable[[str], str]:
    """HF's 'first' scheme on the whole text: the replacement goes before the segment at
    offset 0, unless an added token starts the text (then no segment is at 0) or the text
    starts with a space or the replacement."""
    skip = (" ", replacement, *added)

    def prepend(text: str) -> str:
        if not text or text.startswith(skip):
            return text
        return replacement + text

    return prepend


def _prepend_first(
    backend: FastokensBackend, replacement: str, every: tuple[str, ...], plain: tuple[str, ...]
) -> None:
    with_added = _first_prepend(replacement, every)
    with_plain = _first_prepend(replacement, plain)  # special-token strings are text
    ordinary = _first_prepend(replacement, ())  # no added token matches
    raw = backend.tokenizer

    def encode(text: str, add_special_tokens: bool = False) -> Any:
        return raw.encode(with_added(text), add_special_tokens=add_special_tokens)

    def encode_split(text: str, add_special_tokens: bool = False) -> Any:
        return raw.encode(
            with_plain(text), add_special_tokens=add_special_tokens, split_special_tokens=True
        )

    def encode_batch(texts: Sequence[str], add_special_tokens: bool = False) -> Any:
        return raw.encode_batch(
            [with_added(t) for t in texts], add_special_tokens=add_special_tokens
        )

    def encode_batch_split(texts: Sequence[str], add_special_tokens: bool = False) -> Any:
        return raw.encode_batch(
            [with_plain(t) for t in texts],
            add_special_tokens=add_special_tokens,
            split_special_tokens=True,
        )

    def encode_ordinary(text: str) -> Any:
        return raw.encode_ordinary(ordinary(text))

    backend.encode, backend.encode_split = encode, encode_split
    backend.encode_batch, backend.encode_batch_split = encode_batch, encode_batch_split
    backend.encode_ordinary = encode_ordinary
    backend.text_in = functools.partial(_texts_in, with_added, with_plain, ordinary)


def _texts_in(
    with_added: Callable[[str], str],
    with_plain: Callable[[str], str],
    ordinary: Callable[[str], str],
    texts: Sequence[str],
    split_special_tokens: bool,
    allow_added: bool = True,
) -> list[str]:
    """The texts as fastokens must see them for the flat and segment encodes."""
    step = ordinary if not allow_added else with_plain if split_special_tokens else with_added
    return [step(t) for t in texts]


# -- normalizer-in-python, metaspace-in-python: HF's per-piece steps in Python ---------

#: The normalizers fastokens 0.3.5 implements.
_FASTOKENS_NORMALIZERS = frozenset({"NFC", "Lowercase", "Replace", "Prepend", "Sequence"})


def _normalizer_types(component: Any) -> set[str]:
    if not isinstance(component, dict):
        return set()
    found = {str(component.get("type"))}
    for part in component.get("normalizers") or ():
        found |= _normalizer_types(part)
    return found


def _lacks_normalizer(data: Data) -> bool:
    return bool(_normalizer_types(data.get("normalizer")) - _FASTOKENS_NORMALIZERS)


def _metaspace_pre(data: Data) -> Data | None:
    pre = data.get("pre_tokenizer")
    if isinstance(pre, dict) and pre.get("type") == "Metaspace":
        return pre
    return None


def _added(data: Data) -> tuple[AddedToken, ...]:
    """The added tokens with the ids HF gives them: a content already in the model's
    vocabulary keeps that id, whatever the entry says (fastokens takes the entry's; the
    load then refuses the rewrite on the check of :mod:`.segmented`)."""
    vocab = data["model"]["vocab"]
    found = []
    for entry in data.get("added_tokens") or ():
        token = AddedToken.from_json(entry)
        known = vocab.get(token.content)
        found.append(token if known is None else dataclasses.replace(token, id=known))
    return tuple(found)


def _normalizer_applies(data: Data) -> bool:
    """A BPE file whose normalizer fastokens lacks. Not under Metaspace 'first', which
    prepends by the piece's offset in the raw text, and a normalizer can move that."""
    if not (_is_bpe(data) and _lacks_normalizer(data)):
        return False
    pre = _metaspace_pre(data)
    return pre is None or _metaspace_scheme(pre) != "first"


def _normalizer_in_python(data: Data) -> Patch:
    added, spec = _added(data), data["normalizer"]
    data["normalizer"] = None

    def patch(backend: FastokensBackend) -> None:
        segmented.serve(backend, added, normalizer=spec)

    return patch


def _metaspace_in_python_applies(data: Data) -> bool:
    """Metaspace that the normalizer rewrite cannot express: 'always'; 'never' beside a
    normalizer fastokens lacks; 'first' with no normalizer but added tokens that strip,
    match whole words or hold a space or the replacement."""
    pre = _metaspace_pre(data)
    if not (_is_bpe(data) and pre is not None and len(pre.get("replacement", "▁")) == 1):
        return False
    scheme = _metaspace_scheme(pre)
    if scheme == "always":
        return True
    if scheme == "never":
        return _lacks_normalizer(data)
    if scheme == "first":
        return data.get("normalizer") is None and not _metaspace_applies(data)
    return False


def _metaspace_in_python(data: Data) -> Patch:
    pre = data["pre_tokenizer"]
    replacement = pre.get("replacement", "▁")
    step = segmented.Metaspace(replacement, _metaspace_scheme(pre))
    added, spec = _added(data), data.get("normalizer")  # None if normalizer-in-python ran
    data["normalizer"] = None
    data["pre_tokenizer"] = _metaspace_split(pre, replacement)

    def patch(backend: FastokensBackend) -> None:
        segmented.serve(backend, added, normalizer=spec, metaspace=step)

    return patch


#: Every rewrite, in the order they are tried; all that apply are applied.
REWRITES: tuple[Rewrite, ...] = (
    Rewrite(
        "vocab-gaps",
        _gaps_apply,
        _fill_gaps,
        "ids missing from a byte-level BPE vocabulary, and an empty-string token, become "
        "tokens BPE cannot produce; decode, id_to_token and vocab_size answer as HF",
    ),
    Rewrite(
        "roberta-template",
        _roberta_applies,
        _roberta_template,
        "RobertaProcessing becomes the TemplateProcessing '<s> $A </s>' "
        "('<s> $A </s> </s> $B </s>' for pairs) it equals",
    ),
    Rewrite(
        "metaspace-normalizer",
        _metaspace_applies,
        _metaspace_normalizer,
        "a Metaspace pre-tokenizer ('first' or 'never' scheme) becomes a Replace normalizer "
        "(and a '▁' split where it splits); 'first' prepends '▁' in Python exactly where HF does",
    ),
    Rewrite(
        "normalizer-in-python",
        _normalizer_applies,
        _normalizer_in_python,
        "a normalizer fastokens lacks (NFKC, NFKD, BertNormalizer, ...) runs in Python, HF's "
        "own, on each piece between added tokens, split as HF splits them",
    ),
    Rewrite(
        "metaspace-in-python",
        _metaspace_in_python_applies,
        _metaspace_in_python,
        "Metaspace's replace and prepend ('always', and the cases the normalizer form cannot "
        "take) run in Python on each piece between added tokens; fastokens splits at '▁'",
    ),
)


def applicable(data: Data) -> list[Rewrite]:
    """The rewrites that apply to the parsed file ``data``."""
    return [rewrite for rewrite in REWRITES if rewrite.applies(data)]


def apply_all(raw: bytes) -> tuple[str, list[str], list[Patch]] | None:
    """The rewritten file's JSON text, the names applied and their patches; None if none
    applies."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        return None
    found = applicable(data)
    if not found:
        return None
    patches = [patch for rewrite in found if (patch := rewrite.apply(data)) is not None]
    return json.dumps(data, ensure_ascii=False), [r.name for r in found], patches
