"""Fetch a card's files from the Hugging Face hub into the standard HF cache.

``huggingface_hub`` does the downloading, caching and locking. This module adds what a
loader needs on top:

* the ``HF_*`` environment is read on every call, never at import, and handed to the hub
  client explicitly, because ``huggingface_hub`` freezes its own copy at import time;
* every file comes from one resolved commit, so a branch that moves mid-load cannot mix
  revisions, and only the card's small files are ever fetched, never weights;
* a deadline (``DYN_HUB_TIMEOUT``) kept in the calling thread, so nothing is left running
  when a load gives up. Each request gets the time left. With nothing cached, modelcard
  asks the hub once itself and retries only answers that say "try again" (408, 429, 5xx,
  a dropped connection), then forces the download: the hub client's own retry loop, which
  backs off for minutes on a dead network, is never entered. With a cached copy, the hub
  client falls back to it when the hub cannot be reached, within 10 seconds;
* the hub client's log messages (retries, resumed downloads) are held back during a load,
  since the load's error says what went wrong in one line. They pass when the
  ``modelcard`` or the ``huggingface_hub`` stdlib logger is enabled for INFO (see
  :func:`hub_chatter_shown`); only records made by modelcard's own calls are held;
* one translation of hub errors into :mod:`modelcard.errors`, naming the repo, the
  revision, the root cause of a network failure (DNS, refused, TLS, timeout) and the
  setting that changes the outcome. The token never appears in them.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import logging
import os
import re
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from ._log import NAME as LOG_NAME, get_logger
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
from .sources import (
    COMPANION_FILES,
    TIKTOKEN_MODEL,
    TOKENIZER_FILE,
    ResolvedSource,
    pick_tokenizer_file,
    show,
)

__all__ = ["HubEnvironment", "hub_chatter_shown", "hub_environment", "resolve_hub"]

log = get_logger("modelcard")

DEFAULT_ENDPOINT = "https://huggingface.co"
_COMMIT = re.compile(r"[0-9a-f]{40}")
_TRUE = {"1", "true", "yes", "on", "y", "t"}
#: Pauses before the second, third and fourth try of the first request.
_BACKOFF = (0.5, 1.0, 2.0)
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: The longest wait for one metadata request when a cached copy can answer instead.
_CACHED_WAIT = 10.0
_HUB_LOGGER = "huggingface_hub"


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
    deadline: float

    def where(self) -> str:
        return f"hub repo {self.repo_id!r} at revision {self.revision!r} from {self.env.endpoint}"

    def left(self) -> float:
        """Seconds left before DYN_HUB_TIMEOUT; HubTimeoutError when there are none."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise HubTimeoutError(
                f"Gave up on {self.where()} after {self.timeout:g} s (DYN_HUB_TIMEOUT): the "
                "hub answers too slowly. Raise DYN_HUB_TIMEOUT / --hub-timeout, or set "
                "HF_HUB_OFFLINE=1 to use the cache."
            )
        return left

    def no_local_path(self) -> str:
        # Only a name that is not on disk reaches the hub; say so, in case it was a path.
        return f" No local path {show(self.repo_id)} exists either (in {show(os.getcwd())})."


# -- the hub client's log messages --------------------------------------------------------

_holding = contextvars.ContextVar("modelcard_holding_hub_chatter", default=False)


class _HubChatterFilter(logging.Filter):
    """Drops the hub client's records below ERROR made inside a modelcard load."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or not _holding.get()


_CHATTER_FILTER = _HubChatterFilter()


def hub_chatter_shown() -> bool:
    """Whether the hub client's messages pass during a load.

    They do when the ``modelcard`` or the ``huggingface_hub`` stdlib logger is enabled for
    INFO: ``logging.getLogger("modelcard").setLevel(logging.INFO)`` (the CLI's ``-v``),
    ``HF_HUB_VERBOSITY=info``, or an application logging at INFO.
    """
    return logging.getLogger(LOG_NAME).isEnabledFor(logging.INFO) or logging.getLogger(
        _HUB_LOGGER
    ).isEnabledFor(logging.INFO)


@contextlib.contextmanager
def _hub_chatter_held() -> Iterator[None]:
    """Hold back the hub client's messages from the calls made in this context."""
    if hub_chatter_shown():
        yield
        return
    # The hub logs through one logger per module, and a logger's filters do not apply to
    # its children, so each gets the filter. It is a no-op outside this context, for other
    # threads and after a load returns; the application's levels and handlers stay as set.
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if (
            (name == _HUB_LOGGER or name.startswith(_HUB_LOGGER + "."))
            and isinstance(logger, logging.Logger)
            and _CHATTER_FILTER not in logger.filters
        ):
            logger.addFilter(_CHATTER_FILTER)
    token = _holding.set(True)
    try:
        yield
    finally:
        _holding.reset(token)


# -- resolving ----------------------------------------------------------------------------


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
        deadline=time.monotonic() + timeout,
    )
    # Imported before the chatter is held, so that every logger of the hub client exists.
    import huggingface_hub.file_download  # noqa: F401

    with _hub_chatter_held():
        try:
            return _download(request)
        except ModelCardError:
            raise
        except Exception as exc:
            _translate(exc, request)


def _download(request: _Request) -> ResolvedSource:
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError

    env = request.env
    common: dict[str, Any] = {
        "cache_dir": env.cache_dir,
        "token": env.token,
        "local_files_only": env.offline,
        "endpoint": env.endpoint,
    }
    name = TOKENIZER_FILE
    cached = try_to_load_from_cache(
        request.repo_id, TOKENIZER_FILE, cache_dir=env.cache_dir, revision=request.revision
    )
    if not isinstance(cached, str):
        # No tokenizer.json cached: a tiktoken.model repo loaded before? (Offline, too: the
        # hub's 404 for tokenizer.json is not recorded by a metadata request.)
        ranks = try_to_load_from_cache(
            request.repo_id, TIKTOKEN_MODEL, cache_dir=env.cache_dir, revision=request.revision
        )
        if isinstance(ranks, str):
            name, cached = TIKTOKEN_MODEL, ranks
    cold = not env.offline and not isinstance(cached, str)
    if cold:
        try:
            _first_request(request, name)
        except ModelCardError:
            raise
        except EntryNotFoundError as exc:
            name = _ranks_file(request, exc)
        except Exception as exc:
            _translate(exc, request, cached=False)
    tokenizer_path = Path(
        str(
            hf_hub_download(
                request.repo_id,
                name,
                revision=request.revision,
                etag_timeout=min(request.left(), _CACHED_WAIT),
                force_download=cold,
                **common,
            )
        )
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
            # Forced: it is not cached, and a forced download never enters the hub
            # client's retry loop. A 404 is still recorded in the cache.
            companions[name] = Path(
                str(
                    hf_hub_download(
                        request.repo_id,
                        name,
                        revision=commit,
                        etag_timeout=request.left(),
                        force_download=True,
                        **common,
                    )
                )
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


def _ranks_file(request: _Request, missing: Exception) -> str:
    """The tiktoken ranks file of a repo without tokenizer.json: tiktoken.model, else its
    single ``*.tiktoken`` (from a listing of the repo's top level). Only that file and the
    companions are downloaded. Re-raises ``missing`` translated when there is none."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import EntryNotFoundError

    try:
        try:
            _first_request(request, TIKTOKEN_MODEL)
            return TIKTOKEN_MODEL
        except EntryNotFoundError:
            pass
        api = HfApi(endpoint=request.env.endpoint, token=request.env.token)
        names = [
            entry.path
            for entry in api.list_repo_tree(request.repo_id, revision=request.revision)
            if "/" not in entry.path
        ]
    except ModelCardError:
        raise
    except Exception as exc:
        _translate(exc, request, cached=False)
    chosen = pick_tokenizer_file(names, request.where())
    if chosen is None:
        _translate(missing, request, cached=False)
    return chosen


def _first_request(request: _Request, name: str = TOKENIZER_FILE) -> None:
    """Ask the hub for a file's metadata, retrying within the deadline when told to."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    env = request.env
    url = hf_hub_url(request.repo_id, name, revision=request.revision, endpoint=env.endpoint)
    for attempt, pause in enumerate((*_BACKOFF, None), start=1):
        wait = request.left()
        try:
            get_hf_file_metadata(url, token=env.token, timeout=wait, endpoint=env.endpoint)
            return
        except Exception as exc:
            if pause is None or not _worth_retrying(exc) or request.left() <= pause:
                raise
            log.info(
                "hub_retry",
                repo_id=request.repo_id,
                revision=request.revision,
                attempt=attempt,
                cause=_cause_text(exc, request),
                wait=pause,
            )
        time.sleep(pause)


def _worth_retrying(exc: BaseException) -> bool:
    status = _status(exc)
    if status is not None:
        return status in _RETRY_STATUSES
    return any(
        _named(link, "RemoteProtocolError", "ReadError", "WriteError")
        or isinstance(link, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError))
        for link in _chain(exc)
    )


# -- translating errors -------------------------------------------------------------------


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def _first_line(exc: BaseException, token: str | None) -> str:
    text = str(exc).strip()
    return _scrub(text.splitlines()[0] if text else type(exc).__name__, token)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from, outermost first."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _named(exc: BaseException, *names: str) -> bool:
    """Whether ``exc`` is an httpx (or httpcore) exception of one of these classes."""
    return any(
        cls.__name__ in names and cls.__module__.startswith(("httpx", "httpcore"))
        for cls in type(exc).__mro__
    )


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _network_cause(exc: BaseException, request: _Request) -> tuple[str, str] | None:
    """The kind ("dns", "refused", "tls", "timeout", ...) and wording of a network failure."""
    chain = list(_chain(exc))
    host, port = _failed_host(chain, request.env.endpoint)
    for link in chain:
        if isinstance(link, socket.gaierror):
            detail = link.strerror or _first_line(link, None)
            return "dns", f"the DNS lookup of {host!r} failed ({detail})"
        if isinstance(link, ConnectionRefusedError):
            return "refused", f"{host}:{port} refused the connection (nothing listens there)"
        if isinstance(link, ssl.SSLError):
            return "tls", f"the TLS handshake with {host}:{port} failed ({_first_line(link, None)})"
        if isinstance(link, OSError) and link.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "unreachable", f"there is no route to {host}:{port} ({link.strerror})"
    for link in chain:
        if _named(link, "ConnectTimeout"):
            return "timeout", f"connecting to {host}:{port} did not complete"
        if _named(link, "ReadTimeout"):
            return "timeout", f"{host}:{port} accepted the connection but sent no answer"
        if _named(link, "TimeoutException") or isinstance(link, TimeoutError):
            return "timeout", f"{host}:{port} timed out"
        if _named(link, "ProxyError"):
            return "proxy", f"the proxy failed ({_first_line(link, request.env.token)})"
        if _named(link, "RemoteProtocolError", "ReadError", "WriteError") or isinstance(
            link, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)
        ):
            return "dropped", (
                f"{host}:{port} dropped the connection ({_first_line(link, request.env.token)})"
            )
        if _named(link, "ConnectError", "NetworkError", "TransportError"):
            return "network", _first_line(link, request.env.token)
    return None


def _failed_host(chain: list[BaseException], endpoint: str) -> tuple[str, int]:
    """The host and port of the failed request (a redirect may have left the endpoint)."""
    url = endpoint
    for link in chain:
        if _named(link, "RequestError"):
            with contextlib.suppress(Exception):  # httpx raises when no request is attached
                url = str(link.request.url)  # type: ignore[attr-defined]
                break
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 443
    return parts.hostname or url, port


def _cause_text(exc: BaseException, request: _Request) -> str:
    network = _network_cause(exc, request)
    if network is not None:
        return network[1]
    status = _status(exc)
    return f"HTTP {status}" if status is not None else _first_line(exc, request.env.token)


def _translate(exc: Exception, request: _Request, *, cached: bool | None = None) -> NoReturn:
    """Raise the modelcard error for a hub client failure."""
    from huggingface_hub import errors as hub

    # A forced download reports a failed metadata request as a bare ValueError from it.
    if type(exc) is ValueError and isinstance(exc.__cause__, Exception):
        exc = exc.__cause__
    where = request.where()
    env = request.env
    cause = _first_line(exc, env.token)
    missing = request.no_local_path()
    if isinstance(exc, hub.HFValidationError):
        raise InvalidModelError(
            f"{request.repo_id!r} was {request.reason}, but the hub client rejects it: "
            f"{cause}.{missing}"
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
            f"({'set' if env.token else 'unset'}) does not grant access. Check the "
            f"repo id, or set HF_TOKEN.{missing}"
        ) from exc
    if isinstance(exc, hub.EntryNotFoundError) and not isinstance(exc, hub.LocalEntryNotFoundError):
        raise HubNotFoundError(
            f"{where} has no {TOKENIZER_FILE}, {TIKTOKEN_MODEL} or *.tiktoken file. modelcard "
            "needs a fast-tokenizer file or a tiktoken ranks file; pick a repo or revision "
            "that has one."
        ) from exc
    if isinstance(exc, hub.OfflineModeIsEnabled) or (
        isinstance(exc, hub.LocalEntryNotFoundError) and env.offline
    ):
        raise HubOfflineError(
            f"HF_HUB_OFFLINE is set and {where} is not in the cache at {env.cache_dir}. "
            "Unset HF_HUB_OFFLINE once to download it, or point HF_HUB_CACHE / HF_HOME at a "
            f"cache that has it.{missing}"
        ) from exc
    status = _status(exc)
    if isinstance(exc, hub.HfHubHTTPError) and status in (401, 403):
        raise HubAccessError(
            f"{where} answered {status}: not authorised. Set HF_TOKEN to a token with "
            "read access to this repo."
        ) from exc
    # With nothing cached, offline mode cannot help: the fix is the network or the endpoint.
    not_cached = f", and no copy is cached in {env.cache_dir}" if cached is False else ""
    use_cache = "" if cached is False else ", or set HF_HUB_OFFLINE=1 to use the cache"
    if isinstance(exc, hub.HfHubHTTPError) and status is not None:
        raise HubUnavailableError(
            f"{where} answered HTTP {status}{not_cached}. Retry later or check "
            f"HF_ENDPOINT{use_cache}."
        ) from exc
    if isinstance(exc, hub.FileMetadataError):
        raise HubUnavailableError(
            f"{where} did not answer as a Hugging Face hub does ({cause}). Check HF_ENDPOINT "
            "and any proxy in between."
        ) from exc
    network = _network_cause(exc, request)
    if network is not None:
        kind, text = network
        if kind == "timeout":
            raise HubTimeoutError(
                f"No answer from {where} within {request.timeout:g} s (DYN_HUB_TIMEOUT): "
                f"{text}{not_cached}. "
                "Raise DYN_HUB_TIMEOUT / --hub-timeout, or check your network and "
                f"HF_ENDPOINT{use_cache}.{missing}"
            ) from exc
        fix = {
            "dns": "Check your network connection and HF_ENDPOINT",
            "refused": "Check HF_ENDPOINT (is the hub or mirror running?)",
            "tls": "Check that HF_ENDPOINT's scheme matches the server and that its "
            "certificate is trusted",
            "proxy": "Check HTTPS_PROXY / HTTP_PROXY",
        }.get(kind, "Retry, or check your network and HF_ENDPOINT")
        raise HubUnavailableError(
            f"Could not reach {where}: {text}{not_cached}. {fix}{use_cache}.{missing}"
        ) from exc
    if isinstance(exc, hub.LocalEntryNotFoundError):
        raise HubUnavailableError(
            f"Could not reach {where}, and it is not in the cache at {env.cache_dir}: "
            f"{_first_line(list(_chain(exc))[-1], env.token)}. Check your network and "
            f"HF_ENDPOINT, or set HF_HUB_OFFLINE=1 with a warm cache.{missing}"
        ) from exc
    if isinstance(exc, OSError) or type(exc).__module__.startswith(("httpx", "httpcore")):
        raise HubUnavailableError(
            f"Downloading from {where} failed: {cause}. Retry; nothing partial was kept in "
            "the cache."
        ) from exc
    raise HubError(f"{where} failed unexpectedly: {type(exc).__name__}: {cause}") from exc
