"""modelcard: the right tokenizer for a model, fast and correct.

>>> from modelcard import ModelCard
>>> tok = ModelCard(model="./fixtures/minimal-bpe", tokenizer="fastokens").load()
>>> tok.encode("Hello, world!")
[18, 20, 3, 1, 17, 21, 22, 2]
"""

from .card import ModelCard as ModelCard
from .errors import (
    BackendUnavailableError as BackendUnavailableError,
    ChatContentError as ChatContentError,
    ChatTemplateError as ChatTemplateError,
    CompanionFileError as CompanionFileError,
    DecodeError as DecodeError,
    EncodeError as EncodeError,
    FingerprintMismatchError as FingerprintMismatchError,
    HubAccessError as HubAccessError,
    HubError as HubError,
    HubNotFoundError as HubNotFoundError,
    HubOfflineError as HubOfflineError,
    HubTimeoutError as HubTimeoutError,
    HubUnavailableError as HubUnavailableError,
    InvalidModelError as InvalidModelError,
    InvalidTokenIdError as InvalidTokenIdError,
    JobError as JobError,
    MissingDependencyError as MissingDependencyError,
    ModelCardError as ModelCardError,
    ModelNotFoundError as ModelNotFoundError,
    RayJobError as RayJobError,
    RecordError as RecordError,
    TextsError as TextsError,
    TiktokenFileError as TiktokenFileError,
    TiktokenPatternError as TiktokenPatternError,
    TokenizerLoadError as TokenizerLoadError,
    WorkerDiedError as WorkerDiedError,
)
from .stream import DecodeStream as DecodeStream
from .tokenizer import FlatBatch as FlatBatch, Tokenizer as Tokenizer

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "ChatContentError",
    "ChatTemplateError",
    "CompanionFileError",
    "DecodeError",
    "DecodeStream",
    "EncodeError",
    "FingerprintMismatchError",
    "FlatBatch",
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
    "ModelCard",
    "ModelCardError",
    "ModelNotFoundError",
    "RayJobError",
    "RecordError",
    "TextsError",
    "TiktokenFileError",
    "TiktokenPatternError",
    "Tokenizer",
    "TokenizerLoadError",
    "WorkerDiedError",
    "__version__",
]
