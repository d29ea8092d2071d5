"""Turn a model reference (``DYN_MODEL``) into the card's files on local disk.

Local first, as in transformers: a reference that names something on disk loads from
disk, and only a name that exists nowhere here goes to the hub.

* **Local path** when the value is absolute (``/x``), explicitly relative (``./x``,
  ``../x``, ``.``), starts with ``~``, contains a backslash or more than one ``/``, or
  ends in ``.json``. Such a value never goes to the hub; if nothing is there, that is a
  :class:`~modelcard.errors.ModelNotFoundError`.
* **Local path** too when a ``name`` or ``namespace/name`` exists, as a file or a
  directory, relative to the working directory (``fixtures/gpt2``).
* **Hub repo id** otherwise: a valid ``name`` or ``namespace/name`` that does not exist
  here. A hub failure then also says that no local path of that name exists.
* Anything else is rejected, and the error says which readings were tried.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import InvalidModelError, ModelNotFoundError, TokenizerLoadError
from .tiktoken_files import TIKTOKEN

__all__ = [
    "COMPANION_FILES",
    "ResolvedSource",
    "classify",
    "resolve",
    "show",
]

TOKENIZER_FILE = "tokenizer.json"
#: Files a card may have beside tokenizer.json, in the order they are read.
COMPANION_FILES = (
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "generation_config.json",
    "config.json",
)

#: The tiktoken ranks file looked for after tokenizer.json, before any ``*.tiktoken``.
TIKTOKEN_MODEL = "tiktoken.model"

_REPO_PART = re.compile(r"[A-Za-z0-9_.-]+")
_MAX_REPO_ID = 96


def show(value: str | os.PathLike[str]) -> str:
    """Quote a path or id for a message, safely even when it is not valid UTF-8."""
    return repr(os.fspath(value))


@dataclass(frozen=True)
class ResolvedSource:
    """Where a card's files are on local disk, and how they were found."""

    kind: Literal["local", "hub"]
    model: str
    tokenizer_json: Path
    companions: dict[str, Path] = field(default_factory=dict)
    repo_id: str | None = None
    revision: str | None = None
    commit: str | None = None

    @property
    def form(self) -> str:
        """``"tokenizer.json"``, or ``"tiktoken"`` for a ranks file."""
        path = self.tokenizer_json
        return TIKTOKEN if is_ranks_file(path.name) else TOKENIZER_FILE

    @property
    def tokenizer_name(self) -> str:
        """The tokenizer file's name in the card: ``tokenizer.json``, or the ranks file's."""
        return TOKENIZER_FILE if self.form == TOKENIZER_FILE else self.tokenizer_json.name

    @property
    def files(self) -> dict[str, Path]:
        """Every resolved file by its name in the repo, the tokenizer file first."""
        return {self.tokenizer_name: self.tokenizer_json, **self.companions}

    def describe(self) -> str:
        if self.kind == "hub":
            return f"hub repo {self.repo_id!r} at revision {self.revision!r} (commit {self.commit})"
        return f"local path {show(self.tokenizer_json)}"


def _looks_local(model: str) -> str | None:
    """The reason ``model`` is read as a local path, or None when it is not."""
    if model.startswith("/"):
        return "it is an absolute path"
    if model in (".", "..") or model.startswith(("./", "../")):
        return "it starts with './' or '../'"
    if model.startswith("~"):
        return "it starts with '~'"
    if "\\" in model or (
        len(model) > 1 and model[1] == ":" and model[0].isascii() and model[0].isalpha()
    ):
        return "it contains a backslash or a drive letter"
    if model.count("/") > 1:
        return "it contains more than one '/' (a repo id is 'name' or 'namespace/name')"
    if model.endswith(".json"):
        return "it ends in '.json'"
    return None


def _repo_id_problem(model: str) -> str | None:
    """Why ``model`` is not a valid hub repo id, or None when it is one."""
    if len(model) > _MAX_REPO_ID:
        return f"it is longer than {_MAX_REPO_ID} characters"
    for part in model.split("/"):
        if not part:
            return "it has an empty part"
        if not _REPO_PART.fullmatch(part):
            return "only letters, digits, '-', '_' and '.' are allowed"
        if "--" in part or ".." in part:
            return "'--' and '..' are not allowed"
        if part.startswith(("-", ".")) or part.endswith(("-", ".")):
            return "a part starts or ends with '-' or '.'"
    return None


def classify(model: str) -> tuple[Literal["local", "hub"], str]:
    """Decide whether ``model`` is a local path or a hub repo id (see the module docstring).

    Returns the kind and the reason, for messages.
    """
    if not model or not model.strip():
        raise InvalidModelError(
            "No model given: set DYN_MODEL (or pass model=..., or --model) to a local "
            "directory holding tokenizer.json, a path to a tokenizer.json, or a hub repo id."
        )
    if "\x00" in model:
        raise InvalidModelError(f"Model reference {show(model)} contains a NUL character.")
    local_reason = _looks_local(model)
    if local_reason is not None:
        return "local", f"read as a local path because {local_reason}"
    # lexists: a dangling symlink is a local path that is broken, not a hub repo id.
    if os.path.lexists(model):
        return "local", "read as a local path because it exists in the working directory"
    problem = _repo_id_problem(model)
    if problem is not None:
        raise InvalidModelError(
            f"Model reference {show(model)} is neither an existing path (nothing of that name "
            f"in {show(os.getcwd())}) nor a valid hub repo id ({problem}). Fix DYN_MODEL / "
            "--model."
        )
    return "hub", "read as a hub repo id because no local path of that name exists"


def _stat(path: Path, model: str, reason: str) -> os.stat_result:
    try:
        return path.stat()
    except FileNotFoundError:
        raise ModelNotFoundError(
            f"Model {show(model)} was {reason}, and {show(path)} does not exist. "
            "Fix DYN_MODEL / --model, or give a hub repo id as 'namespace/name'."
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidModelError(
                f"Model {show(model)} was {reason}, but {show(path)} is a symlink loop. "
                "Fix the link or point DYN_MODEL at the real directory."
            ) from exc
        raise TokenizerLoadError(
            f"Model {show(model)} was {reason}, but {show(path)} cannot be read: "
            f"{exc.strerror or exc}. Check its permissions."
        ) from exc


def is_ranks_file(name: str) -> bool:
    """Whether a file of this name is read as a tiktoken ranks file (else as tokenizer.json)."""
    return name == TIKTOKEN_MODEL or name.endswith(".tiktoken")


def pick_tokenizer_file(names: list[str], where: str) -> str | None:
    """The tokenizer file among ``names``: tokenizer.json, then tiktoken.model, then a
    single ``*.tiktoken``; None when there is none. Several ``*.tiktoken`` is an error."""
    if TOKENIZER_FILE in names:
        return TOKENIZER_FILE
    if TIKTOKEN_MODEL in names:
        return TIKTOKEN_MODEL
    ranks = sorted(n for n in names if n.endswith(".tiktoken"))
    if len(ranks) > 1:
        raise InvalidModelError(
            f"{where} has no {TOKENIZER_FILE} or {TIKTOKEN_MODEL}, and several tiktoken "
            f"files ({', '.join(ranks)}): modelcard cannot tell which one is the model's. "
            "Point DYN_MODEL at the one to load."
        )
    return ranks[0] if ranks else None


def resolve_local(model: str, reason: str) -> ResolvedSource:
    """Find the tokenizer file and its companions in a local directory or at a file path."""
    path = Path(os.path.expanduser(model)).absolute()
    st = _stat(path, model, reason)
    if stat.S_ISDIR(st.st_mode):
        directory = path
        tokenizer_json = path / TOKENIZER_FILE
        if not tokenizer_json.is_file() and os.access(path, os.R_OK):
            names = [p.name for p in path.iterdir() if p.is_file()]
            chosen = pick_tokenizer_file(names, f"The directory {show(path)}")
            if chosen is not None:
                tokenizer_json = path / chosen
        if not tokenizer_json.is_file():
            present = (
                sorted(p.name for p in path.iterdir())[:12] if os.access(path, os.R_OK) else []
            )
            hint = ""
            if "tokenizer.model" in present or "vocab.json" in present:
                hint = (
                    " The directory holds a slow-tokenizer file (tokenizer.model or vocab.json); "
                    "convert it once with transformers' `AutoTokenizer.from_pretrained(dir)."
                    "save_pretrained(dir)` to get a tokenizer.json."
                )
            raise ModelNotFoundError(
                f"Model {show(model)} was {reason}, but the directory {show(path)} has no "
                f"{TOKENIZER_FILE} (it contains: {', '.join(present) or 'nothing'}).{hint}"
            )
        _stat(tokenizer_json, model, reason)
    else:
        directory = path.parent
        tokenizer_json = path
    companions = {
        name: directory / name for name in COMPANION_FILES if (directory / name).is_file()
    }
    return ResolvedSource(
        kind="local", model=model, tokenizer_json=tokenizer_json, companions=companions
    )


def resolve(model: str, *, revision: str | None, hub_timeout: float) -> ResolvedSource:
    """Resolve ``model`` to files on local disk, downloading from the hub when needed."""
    kind, reason = classify(model)
    if kind == "local":
        return resolve_local(model, reason)
    from .hub import resolve_hub

    return resolve_hub(model, revision=revision, timeout=hub_timeout, reason=reason)
