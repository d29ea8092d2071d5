"""``ModelCard``: which model, which tokenizer backend, and how to fetch it.

One field definition gives the keyword argument, the ``DYN_*`` environment variable and
the CLI flag. Keyword arguments beat environment variables, which beat defaults. Every
value is validated when the card is constructed, so a typo fails before anything loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import ByteSize, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core.core_schema import ValidatorFunctionWrapHandler
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from . import backends
from .loader import load_card
from .tiktoken_files import ENCODING_PATTERNS, check_pattern_setting

if TYPE_CHECKING:
    from .tokenizer import Tokenizer

__all__ = ["ENV_PREFIX", "ModelCard"]

ENV_PREFIX = "DYN_"


def _env(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


class ModelCard(BaseSettings):
    """Settings that pick a model's tokenizer and backend; ``load()`` returns it."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    model: str = Field(
        description=(
            "A local directory holding tokenizer.json, a path to a tokenizer.json, or a "
            "Hugging Face repo id ('namespace/name'). A path that exists here is loaded "
            "locally; a name that exists nowhere here is a repo id."
        ),
    )
    tokenizer: str = Field(
        default=backends.DEFAULT,
        description=(
            f"Backend that encodes: {backends.help_text()}; 'auto': the fastest that can "
            "serve the file; or a plugin's name. A backend that cannot serve the file falls "
            "back to the reference with a warning (see DYN_TOKENIZER_FALLBACK)."
        ),
    )
    decoder: str = Field(
        default=backends.AUTO,
        description=(
            "Backend that decodes and streams: 'auto' (the one that encodes) or another "
            f"backend's name, e.g. '{backends.DEFAULT}' to decode with the reference."
        ),
    )
    tokenizer_fallback: bool = Field(
        default=True,
        description=(
            "When the backend cannot load the file, or fails on one input, use the reference "
            "(HF tokenizers for tokenizer.json) instead. Set false to raise instead, so a "
            "benchmark never measures the reference by accident."
        ),
    )
    tokenizer_rewrite: bool = Field(
        default=True,
        description=(
            "When fastokens refuses a tokenizer.json, rewrite it in memory into an equal form "
            "it accepts (id gaps, RobertaProcessing, Metaspace; see docs/rewrites.md). Set "
            "false to fall back instead."
        ),
    )
    revision: str | None = Field(
        default=None,
        description="Hub revision: branch, tag or commit (default 'main'). Ignored for paths.",
    )
    tokenizer_cache_bytes: ByteSize = Field(
        default=ByteSize(0),
        ge=0,
        description=(
            "Memory budget of the backend's segment cache (fastokens has one), for chat "
            "traffic that repeats earlier turns (e.g. 64MiB). 0 turns it off. Results are "
            "identical either way."
        ),
    )
    decoder_load: Literal["lazy", "background", "eager"] = Field(
        default="lazy",
        description=(
            "When DYN_DECODER names another backend than the encoder, when to load it: "
            "'lazy' on first decode, 'background' in a thread right after load(), 'eager' "
            "before load() returns."
        ),
    )
    hub_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a hub load may wait for the hub, retries included.",
    )
    fingerprint: str | None = Field(
        default=None,
        description=(
            "Expected card fingerprint (from 'modelcard inspect'); load() fails if the "
            "files differ. Unset: no check."
        ),
    )
    tiktoken_pattern: str | None = Field(
        default=None,
        description=(
            "Split pattern for a tiktoken ranks file (tiktoken.model, *.tiktoken): an "
            f"encoding name ({', '.join(ENCODING_PATTERNS)}) or a regex. Unset: from the "
            "file name, else from config.json's model_type."
        ),
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keyword arguments, then DYN_* variables, then defaults. No .env files, no secrets
        # directory: a loader should not pick up settings from wherever it happens to run.
        return init_settings, env_settings

    @field_validator("tokenizer", mode="before")
    @classmethod
    def _normalise_backend(cls, value: Any) -> str:
        return _backend_name("tokenizer", value, capability="encode")

    @field_validator("decoder", mode="before")
    @classmethod
    def _normalise_decoder(cls, value: Any) -> str:
        return _backend_name("decoder", value, capability="decode")

    @field_validator(
        "tokenizer_fallback",
        "tokenizer_rewrite",
        "tokenizer_cache_bytes",
        "decoder_load",
        "hub_timeout",
        mode="wrap",
    )
    @classmethod
    def _name_the_variable(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        # pydantic parses booleans, byte sizes and numbers; the message adds the variable.
        try:
            return handler(value.strip() if isinstance(value, str) else value)
        except ValidationError as exc:
            field = str(info.field_name)
            problem = exc.errors()[0]["msg"]
            raise ValueError(f"{field} / {_env(field)}: {problem}, got {value!r}") from None

    @field_validator("decoder_load", mode="before")
    @classmethod
    def _normalise_decoder_load(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("model", mode="before")
    @classmethod
    def _strip_model(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("revision", "fingerprint", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("tiktoken_pattern", mode="before")
    @classmethod
    def _check_tiktoken_pattern(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return check_pattern_setting(value)
        except ValueError as exc:
            raise ValueError(f"tiktoken_pattern / {_env('tiktoken_pattern')}: {exc}") from None

    def load(self) -> Tokenizer:
        """Resolve the files, load the backend, read the companions; see :mod:`.loader`."""
        return load_card(self)


def _backend_name(field: str, value: Any, *, capability: backends.base.Capability) -> str:
    """A canonical backend name (or auto) for a setting, or a message listing every name."""
    if not isinstance(value, str):
        raise ValueError(
            f"{field} / {_env(field)} must be a string, one of: {backends.describe_choices()}"
        )
    if not value.strip():
        raise ValueError(
            f"{field} / {_env(field)} is empty. Unset it for the default, or choose one of: "
            f"{backends.describe_choices()}"
        )
    try:
        name = backends.canonical(value)
    except backends.UnknownBackendError as exc:
        raise ValueError(
            f"{field} / {_env(field)}: {exc} Allowed: {backends.describe_choices()}"
        ) from None
    if name != backends.AUTO and not backends.get(name).can(capability):
        able = [s.name for s in backends.BACKENDS.values() if s.can(capability)]
        raise ValueError(
            f"{field} / {_env(field)}: {name} cannot {capability}. Choose one of: "
            f"{', '.join([*able, backends.AUTO])}"
        )
    return name
