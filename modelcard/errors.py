"""Every error modelcard raises, in one tree.

Third-party errors (``tokenizers``, ``fastokens``, ``huggingface_hub``, ``jinja2``) are
translated into these at the boundary where they occur, chained with ``from exc``.
Each class also inherits the builtin a caller would naturally catch::

    ModelCardError(Exception)
    ├── ModelNotFoundError(FileNotFoundError)      no tokenizer.json at the path, or no path
    │   └── HubNotFoundError(HubError)             repo, revision or file missing on the hub
    ├── InvalidModelError(ValueError)              DYN_MODEL is neither a valid path nor a repo id
    ├── TokenizerLoadError(ValueError)             tokenizer.json is empty, malformed or unreadable
    │   ├── TiktokenFileError                      a tiktoken ranks file is malformed (.path, .line)
    │   └── TiktokenPatternError                   no split pattern for a tiktoken file
    ├── CompanionFileError(ValueError)             a companion file (config.json, ...) is malformed
    ├── BackendUnavailableError                    a backend or decoder cannot serve the file
    │                                              (with fallback off, or DYN_DECODER); .reason
    ├── HubError                                   talking to the Hugging Face hub failed
    │   ├── HubNotFoundError(ModelNotFoundError)
    │   ├── HubAccessError(PermissionError)        gated or private repo, bad or missing HF_TOKEN
    │   ├── HubOfflineError(FileNotFoundError)     HF_HUB_OFFLINE=1 and the files are not cached
    │   └── HubUnavailableError(ConnectionError)   network failure, hub 5xx, interrupted download
    │       └── HubTimeoutError(TimeoutError)      no answer within DYN_HUB_TIMEOUT seconds
    ├── EncodeError(ValueError)                    the encoder failed on one input (strict mode)
    ├── DecodeError(ValueError)                    the decoder failed on valid ids
    │   └── InvalidTokenIdError                    an id is negative, too large, or not an int
    ├── ChatTemplateError(ValueError)              no template, or the template raised
    │   └── ChatContentError                       content's special-token strings cannot be
    │                                              kept text through this template
    ├── FingerprintMismatchError                   the files changed since the fingerprint
    ├── TextsError(ValueError)                     verify's --texts missing or malformed
    ├── MissingDependencyError(ImportError)        an extra is not installed (names the pip line)
    ├── JobError(ValueError)                       tokenize's INPUT or OUTPUT is unusable
    ├── RecordError(ValueError)                    a bad record, with --on-error fail
    ├── WorkerDiedError(RuntimeError)              a local worker process died
    └── RayJobError(RuntimeError)                  the Ray job failed

Invalid settings (an unknown ``DYN_TOKENIZER``, say) are not in this tree: they fail when
``ModelCard`` is constructed, as pydantic's ``ValidationError`` (itself a ``ValueError``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendUnavailableError",
    "ChatContentError",
    "ChatTemplateError",
    "CompanionFileError",
    "DecodeError",
    "EncodeError",
    "FingerprintMismatchError",
    "HubAccessError",
    "HubError",
    "HubNotFoundError",
    "HubOfflineError",
    "HubTimeoutError",
    "HubUnavailableError",
    "InvalidModelError",
    "InvalidTokenIdError",
    "JobError",
    "MissingDependencyError",
    "ModelCardError",
    "ModelNotFoundError",
    "RayJobError",
    "RecordError",
    "TextsError",
    "TiktokenFileError",
    "TiktokenPatternError",
    "TokenizerLoadError",
    "WorkerDiedError",
]


class ModelCardError(Exception):
    """Base class of every error raised by modelcard."""


class ModelNotFoundError(ModelCardError, FileNotFoundError):
    """The model's tokenizer.json could not be found."""


class InvalidModelError(ModelCardError, ValueError):
    """The model reference is neither a usable local path nor a valid hub repo id."""


class TokenizerLoadError(ModelCardError, ValueError):
    """tokenizer.json exists but cannot be loaded: empty, malformed JSON, not a tokenizer."""


class TiktokenFileError(TokenizerLoadError):
    """A tiktoken ranks file is empty or malformed; ``path`` and ``line`` say where."""

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class TiktokenPatternError(TokenizerLoadError):
    """A tiktoken file has no split pattern: DYN_TIKTOKEN_PATTERN names one."""


class CompanionFileError(ModelCardError, ValueError):
    """A companion file (tokenizer_config.json, config.json, ...) exists but is malformed."""


class BackendUnavailableError(ModelCardError):
    """The requested backend (or decoder) cannot serve this tokenizer.

    ``reason`` is the backend's own reason, in plain words; the message adds the fix.
    """

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), str(self), {"reason": self.reason}))


class HubError(ModelCardError):
    """Resolving files from the Hugging Face hub failed."""


class HubNotFoundError(HubError, ModelNotFoundError):
    """The repo, the revision or the file does not exist on the hub (or is hidden from you)."""


class HubAccessError(HubError, PermissionError):
    """The repo is gated or private and the request was not authorised."""


class HubOfflineError(HubError, FileNotFoundError):
    """Offline mode is on and the files are not in the local cache."""


class HubUnavailableError(HubError, ConnectionError):
    """The hub could not be reached or failed to serve the files."""


class HubTimeoutError(HubUnavailableError, TimeoutError):
    """The hub did not answer within the configured timeout."""


class EncodeError(ModelCardError, ValueError):
    """Encoding one input failed."""


class DecodeError(ModelCardError, ValueError):
    """Decoding failed."""


class InvalidTokenIdError(DecodeError):
    """A token id is negative, not below the vocabulary size, or not an integer."""


class ChatTemplateError(ModelCardError, ValueError):
    """The card has no chat template, or rendering it failed."""


class ChatContentError(ChatTemplateError):
    """Message content holds special-token strings, and the template transforms it in a
    way that cannot keep them text (``trust_content=True`` encodes them as controls)."""


class FingerprintMismatchError(ModelCardError):
    """The card's files no longer match the fingerprint it was created with."""


class TextsError(ModelCardError, ValueError):
    """A texts file or corpus for ``verify`` is missing, not UTF-8, or not in a known shape."""


class MissingDependencyError(ModelCardError, ImportError):
    """A package the job needs is not installed; the message names the extra to install."""


class JobError(ModelCardError, ValueError):
    """The job's INPUT or OUTPUT cannot be used as given."""


class RecordError(ModelCardError, ValueError):
    """A bad record stopped the job (``--on-error fail``); ``.record`` says which.

    ``record`` is a ``modelcard.jobs.records.BadRecord`` (its ``where`` and ``reason``).
    """

    def __init__(self, record: Any) -> None:
        super().__init__(
            f"{record.where}: {record.reason}. Fix the record, or pass --on-error skip "
            "to skip bad records and list them in _errors.jsonl."
        )
        self.record = record

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Engines raise this in worker processes; it must cross back to the driver intact.
        return (RecordError, (self.record,))


class WorkerDiedError(ModelCardError, RuntimeError):
    """A worker process of the local engine ended without finishing its task."""


class RayJobError(ModelCardError, RuntimeError):
    """The Ray engine failed for a reason outside modelcard (cluster, resources, IO)."""


def _rebuild(cls: type[BaseException], message: str, attributes: dict[str, Any]) -> BaseException:
    """Unpickle an error whose constructor takes keyword arguments."""
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(attributes)
    return error
