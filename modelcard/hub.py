"""Fetch a card's files from the Hugging Face hub into the standard HF cache.

``huggingface_hub`` does the downloading, caching and locking. This module adds what a
loader needs on top:

* the ``HF_*`` environment is read on every call, never at import, and handed to the hub
  client explicitly, because ``huggingface_hub`` freezes its own copy at import time;
* every file comes from one resolved commit, so a branch that moves mid-load cannot mix
  revisions, and only the card's small files are ever fetched, never weights;
* an overall deadline (``DYN_HUB_TIMEOUT``), because the hub client's own retries can
  wait on a stalled server for minutes;
* one translation of hub errors into :mod:`modelcard.errors`, naming the repo, the
  revision and the setting that changes the outcome. The token never appears in them.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ._log import get_logger
from .errors import (
    HubAccessError,
    HubError,
    HubNotFoundError,
    HubOfflineError,
    HubTimeoutError,
    HubUnavailableError,
    InvalidModelError,
    ModelCardError,
)
from .sources import COMPANION_FILES, TOKENIZER_FILE, ResolvedSource

__all__ = ["HubEnvironment", "hub_environment", "resolve_hub"]

log = get_logger("modelcard")

DEFAULT_ENDPOINT = "https://huggingface.co"
_COMMIT = re.compile(r"[0-9a-f]{40}")
_TRUE = {"1", "true", "yes", "on", "y", "t"}


@dataclass(frozen=True)
class HubEnvironment:
    """The HF_* settings in force for one resolution."""

    endpoint: str
    cache_dir: Path
    offline: bool
    token: str | None

    def __repr__(self) -> str:  # the token must never be printed
        token = "set" if self.token else "unset"
        return (
            f"HubEnvironment(endpoint={self.endpoint!r}, cache_dir={str(self.cache_dir)!r}, "
            f"offline={self.offline}, token={token})"
        )


def hub_environment() -> HubEnvironment:
    """Read the HF_* environment now, with the hub client's own precedence."""
    env = os.environ
    endpoint = (env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    if env.get("HF_HUB_CACHE"):
        cache_dir = Path(env["HF_HUB_CACHE"])
    elif env.get("HUGGINGFACE_HUB_CACHE"):
        cache_dir = Path(env["HUGGINGFACE_HUB_CACHE"])
    else:
        hf_home = env.get("HF_HOME") or os.path.join(
            env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
            "huggingface",
        )
        cache_dir = Path(hf_home) / "hub"
    offline = any(
        (env.get(name) or "").strip().lower() in _TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )
    token = env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or None
    return HubEnvironment(
        endpoint=endpoint, cache_dir=cache_dir.expanduser(), offline=offline, token=token
    )


@dataclass(frozen=True)
class _Request:
    repo_id: str
    revision: str
    env: HubEnvironment
    timeout: float
    reason: str

    def where(self) -> str:
        return f"hub repo {self.repo_id!r} at revision {self.revision!r} from {self.env.endpoint}"

    def local_hint(self) -> str:
        if os.path.exists(self.repo_id):
            return (
                f" A local path {self.repo_id!r} exists; write './{self.repo_id}' to load it "
                "instead (a bare 'name' or 'namespace/name' is always a hub repo id)."
            )
        return ""


def resolve_hub(
    repo_id: str, *, revision: str | None, timeout: float, reason: str
) -> ResolvedSource:
    """Download (or find in the cache) tokenizer.json and its companions for ``repo_id``."""
    request = _Request(
        repo_id=repo_id,
        revision=revision or "main",
        env=hub_environment(),
        timeout=timeout,
        reason=reason,
    )
    outcome: list[ResolvedSource | BaseException] = []

    def work() -> None:
        try:
            outcome.append(_download(request))
        except BaseException as exc:
            outcome.append(exc)

    # The hub client retries a stalled server for minutes; a daemon thread lets us give up
    # on time. Downloads land in the cache by atomic rename, so abandoning one is safe.
    worker = threading.Thread(target=work, name=f"modelcard-hub-{repo_id}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise HubTimeoutError(
            f"No answer from {request.where()} within {timeout:g} s. Check HF_ENDPOINT and "
            "your network, raise DYN_HUB_TIMEOUT, or set HF_HUB_OFFLINE=1 to use the cache."
        )
    result = outcome[0]
    if isinstance(result, ModelCardError):
        raise result
    if isinstance(result, BaseException):
        _translate(result, request)
    return result


def _download(request: _Request) -> ResolvedSource:
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError

    env = request.env
    common: dict[str, Any] = {
        "cache_dir": env.cache_dir,
        "token": env.token,
        "local_files_only": env.offline,
        "endpoint": env.endpoint,
        "etag_timeout": min(request.timeout, 10.0),
    }
    tokenizer_path = Path(
        str(hf_hub_download(request.repo_id, TOKENIZER_FILE, revision=request.revision, **common))
    )
    commit = tokenizer_path.parent.name
    if not _COMMIT.fullmatch(commit):
        raise HubError(f"Unexpected cache layout for {request.where()}: {tokenizer_path}")

    companions: dict[str, Path] = {}
    not_cached: list[str] = []
    for name in COMPANION_FILES:
        cached = try_to_load_from_cache(
            request.repo_id, name, cache_dir=env.cache_dir, revision=commit
        )
        if isinstance(cached, str):
            companions[name] = Path(cached)
            continue
        if cached is not None:  # the cache records that the file does not exist
            continue
        if env.offline:
            not_cached.append(name)
            continue
        try:
            companions[name] = Path(
                str(hf_hub_download(request.repo_id, name, revision=commit, **common))
            )
        except EntryNotFoundError:
            continue
    if not_cached:
        log.warning(
            "companion_files_not_cached",
            repo_id=request.repo_id,
            revision=request.revision,
            commit=commit,
            files=not_cached,
            reason="HF_HUB_OFFLINE is set and the cache neither holds these files nor "
            "records that they do not exist; the card is built without them",
        )
    return ResolvedSource(
        kind="hub",
        model=request.repo_id,
        tokenizer_json=tokenizer_path,
        companions=companions,
        repo_id=request.repo_id,
        revision=request.revision,
        commit=commit,
    )


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def _translate(exc: BaseException, request: _Request) -> NoReturn:
    """Raise the modelcard error for a hub client failure."""
    from huggingface_hub import errors as hub

    where = request.where()
    cause = _scrub(
        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
        request.env.token,
    )
    hint = request.local_hint()
    if isinstance(exc, hub.HFValidationError):
        raise InvalidModelError(
            f"{request.repo_id!r} was {request.reason}, but the hub client rejects it: "
            f"{cause}.{hint}"
        ) from exc
    if isinstance(exc, hub.GatedRepoError):
        raise HubAccessError(
            f"{where} is gated and this request was not authorised. Accept the model's "
            "terms on its hub page, then set HF_TOKEN to a token of that account."
        ) from exc
    if isinstance(exc, hub.RevisionNotFoundError):
        raise HubNotFoundError(
            f"{where}: the revision does not exist. Set DYN_REVISION / --revision to an "
            "existing branch, tag or commit."
        ) from exc
    if isinstance(exc, hub.RepositoryNotFoundError):
        raise HubNotFoundError(
            f"{where}: the repo does not exist, or it is private and HF_TOKEN "
            f"({'set' if request.env.token else 'unset'}) does not grant access. Check the "
            f"repo id, or set HF_TOKEN.{hint}"
        ) from exc
    if isinstance(exc, hub.EntryNotFoundError) and not isinstance(exc, hub.LocalEntryNotFoundError):
        raise HubNotFoundError(
            f"{where} has no {TOKENIZER_FILE}. modelcard needs a fast-tokenizer file; pick "
            "a repo or revision that has one."
        ) from exc
    if isinstance(exc, hub.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            raise HubAccessError(
                f"{where} answered {status}: not authorised. Set HF_TOKEN to a token with "
                "read access to this repo."
            ) from exc
        raise HubUnavailableError(
            f"{where} failed: {cause}. Retry later, check HF_ENDPOINT, or set "
            "HF_HUB_OFFLINE=1 to use the cache."
        ) from exc
    if isinstance(exc, (hub.LocalEntryNotFoundError, hub.OfflineModeIsEnabled)):
        if request.env.offline:
            raise HubOfflineError(
                f"HF_HUB_OFFLINE is set and {where} is not in the cache at "
                f"{request.env.cache_dir}. Unset HF_HUB_OFFLINE once to download it, or "
                f"point HF_HUB_CACHE / HF_HOME at a cache that has it.{hint}"
            ) from exc
        raise HubUnavailableError(
            f"Could not reach {where}, and it is not in the cache at "
            f"{request.env.cache_dir}: {_root_cause(exc, request.env.token)}. Check your "
            "network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 with a warm cache."
            f"{hint}"
        ) from exc
    if isinstance(exc, TimeoutError) or type(exc).__name__.endswith("TimeoutException"):
        raise HubTimeoutError(
            f"{where} timed out: {cause}. Raise DYN_HUB_TIMEOUT or check your network."
        ) from exc
    if isinstance(exc, OSError) or type(exc).__module__.startswith(("httpx", "httpcore")):
        raise HubUnavailableError(
            f"Downloading from {where} failed: {cause}. Retry; nothing partial was kept in "
            "the cache."
        ) from exc
    raise HubError(f"{where} failed unexpectedly: {type(exc).__name__}: {cause}") from exc


def _root_cause(exc: BaseException, token: str | None) -> str:
    seen = exc
    while seen.__cause__ is not None:
        seen = seen.__cause__
    text = str(seen).strip().splitlines()[0] if str(seen).strip() else type(seen).__name__
    return _scrub(text, token)
