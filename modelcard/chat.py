"""Render chat templates the way transformers does, in a sandbox.

Templates come from model repos, so they are untrusted code: they run in Jinja2's
``ImmutableSandboxedEnvironment``. The environment matches transformers'
``apply_chat_template`` (``trim_blocks``, ``lstrip_blocks``, loop controls, the
``{% generation %}`` tag, ``raise_exception``, ``strftime_now``, and a ``tojson`` that
does not escape HTML and keeps non-ASCII), so a prompt rendered here is byte for byte
the prompt transformers renders.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NoReturn

from .errors import ChatTemplateError

__all__ = ["Prepared", "prepare_chat", "render_chat", "render_prepared", "select_template"]

#: Names a message's reasoning is passed under; templates read the first.
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")
_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "


def select_template(templates: Mapping[str, str], name: str | None, tools: object | None) -> str:
    """Pick the template: by name, else ``tool_use`` when tools are given, else ``default``."""
    if not templates:
        raise ChatTemplateError(
            "This card has no chat template: none in chat_template.jinja or "
            "tokenizer_config.json. Pass chat_template='...' with a Jinja template, or add "
            "chat_template.jinja to the model directory."
        )
    if name is not None:
        if name in templates:
            return templates[name]
        if "{" in name:  # a template given inline
            return name
        raise ChatTemplateError(
            f"No chat template named {name!r}; this card has {sorted(templates)}."
        )
    if tools is not None and "tool_use" in templates:
        return templates["tool_use"]
    if "default" in templates:
        return templates["default"]
    raise ChatTemplateError(
        f"This card has several chat templates and none is 'default': {sorted(templates)}. "
        "Pass chat_template=<name>."
    )


@lru_cache(maxsize=32)
def _compile(source: str) -> Any:
    import jinja2
    import jinja2.ext
    import jinja2.nodes
    import jinja2.utils
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class GenerationTag(jinja2.ext.Extension):
        """``{% generation %}...{% endgeneration %}`` marks assistant text; it renders as is."""

        tags = {"generation"}  # noqa: RUF012 - jinja's own class attribute

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(
                lineno
            )

        def _render(self, caller: Any) -> str:
            return str(caller())

    def raise_exception(message: str) -> NoReturn:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(
        value: Any,
        ensure_ascii: bool = False,
        indent: int | None = None,
        separators: tuple[str, str] | None = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(
            value,
            ensure_ascii=ensure_ascii,
            indent=indent,
            separators=separators,
            sort_keys=sort_keys,
        )

    def strftime_now(fmt: str) -> str:
        return datetime.now().strftime(fmt)

    class SafeNamespace(jinja2.utils.Namespace):
        """``namespace()`` that refuses underscore attributes, which lead to internals."""

        def __init__(*args: Any, **kwargs: Any) -> None:
            self, rest = args[0], args[1:]
            for key in dict(*rest, **kwargs):
                SafeNamespace._check(key)
            jinja2.utils.Namespace.__init__(self, *rest, **kwargs)

        def __setitem__(self, name: str, value: Any) -> None:
            SafeNamespace._check(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check(name: object) -> None:
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(
                    f"chat templates may not set underscore attributes on a namespace ({name!r})"
                )

    class SafeDict:
        """``dict()`` in templates, without exposing the dict type itself."""

        def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
            return dict(*args, **kwargs)

        def fromkeys(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
            return dict.fromkeys(*args, **kwargs)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[GenerationTag, jinja2.ext.loopcontrols],
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    env.globals["namespace"] = SafeNamespace
    env.globals["dict"] = SafeDict()
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ChatTemplateError(
            f"The chat template does not parse: {exc.message} (template line {exc.lineno})."
        ) from exc


def _plain(value: Any) -> Any:
    """Rebuild inputs from plain JSON-like types, so templates never see rich objects."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if hasattr(value, "item") and callable(value.item) and type(value).__module__ == "numpy":
        return _plain(value.item())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):
        return _plain(value.model_dump())
    return f"<{type(value).__name__}>"


def _messages(messages: Sequence[Any]) -> list[dict[str, Any]]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise ChatTemplateError(
            "messages must be a list of {'role': ..., 'content': ...} dicts, "
            f"not {type(messages).__name__}."
        )
    if not messages:
        raise ChatTemplateError("Cannot render an empty conversation; give at least one message.")
    out: list[dict[str, Any]] = []
    for message in messages:
        if callable(getattr(message, "model_dump", None)):
            message = message.model_dump()
        elif dataclasses.is_dataclass(message) and not isinstance(message, type):
            message = {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}
        if not isinstance(message, Mapping):
            raise ChatTemplateError(f"Each message must be a dict, got {message!r}.")
        # APIs send content=None or tool_calls=None; templates handle a missing key better.
        plain = _plain({k: v for k, v in message.items() if v is not None})
        reasoning = next((plain[k] for k in _REASONING_FIELDS if plain.get(k) is not None), None)
        if reasoning is not None:
            plain = {"thinking": reasoning, **plain, "reasoning_content": reasoning}
        out.append(plain)
    return out


@dataclasses.dataclass
class Prepared:
    """A conversation checked and rebuilt from plain types, ready to render."""

    template: str
    chat: list[dict[str, Any]]
    tools: list[Any] | None
    documents: list[Any] | None
    add_generation_prompt: bool
    #: The final message's content when it is continued, else None.
    final: str | None
    context: dict[str, Any]

    def strings(self) -> list[str]:
        """The trusted strings a template sees: its source and the extra context."""
        return [self.template, *(v for v in self.context.values() if isinstance(v, str))]


def prepare_chat(
    template: str,
    messages: Sequence[Any],
    *,
    add_generation_prompt: bool,
    tools: Sequence[Any] | None,
    documents: Sequence[Any] | None,
    continue_final_message: bool,
    special_tokens: Mapping[str, str],
    extra: Mapping[str, Any],
) -> Prepared:
    """Check and rebuild a conversation; bad input becomes :class:`ChatTemplateError`."""
    if continue_final_message and add_generation_prompt:
        raise ChatTemplateError(
            "continue_final_message and add_generation_prompt cannot both be set: the first "
            "keeps the last message open, the second starts a new assistant turn."
        )
    chat = _messages(messages)
    if tools is not None:
        for tool in tools:
            if not isinstance(tool, Mapping):
                raise ChatTemplateError(
                    f"Each tool must be a JSON-schema dict, got {type(tool).__name__}."
                )
    final = None
    if continue_final_message:
        content = chat[-1].get("content")
        if not isinstance(content, str):
            raise ChatTemplateError(
                "continue_final_message needs the final message's content to be a string."
            )
        final = content
    return Prepared(
        template=template,
        chat=chat,
        tools=_plain(list(tools)) if tools is not None else None,
        documents=_plain(list(documents)) if documents is not None else None,
        add_generation_prompt=add_generation_prompt,
        final=final,
        context={**special_tokens, **_plain(dict(extra))},
    )


def render_prepared(
    prepared: Prepared,
    *,
    chat: list[dict[str, Any]] | None = None,
    tools: list[Any] | None = None,
    documents: list[Any] | None = None,
) -> str:
    """Render ``prepared``, or its conversation with ``chat``/``tools``/``documents``
    swapped in (each the same shape, its strings changed)."""
    import jinja2

    compiled = _compile(prepared.template)
    chat = [dict(m) for m in (prepared.chat if chat is None else chat)]
    final = prepared.final
    if final is not None:
        final = chat[-1]["content"]
        chat[-1]["content"] = final + _CONTINUE_TAG
    try:
        rendered: str = compiled.render(
            messages=chat,
            tools=prepared.tools if tools is None else tools,
            documents=prepared.documents if documents is None else documents,
            add_generation_prompt=prepared.add_generation_prompt,
            **prepared.context,
        )
    except jinja2.exceptions.SecurityError as exc:
        raise ChatTemplateError(
            f"The chat template tried an operation the sandbox forbids: {exc}"
        ) from exc
    except jinja2.exceptions.TemplateError as exc:
        raise ChatTemplateError(f"The chat template raised: {exc}") from exc
    except Exception as exc:
        raise ChatTemplateError(f"The chat template failed: {type(exc).__name__}: {exc}") from exc
    if final is not None:
        tag = _CONTINUE_TAG.strip()
        if final.strip() not in rendered or tag not in rendered:
            raise ChatTemplateError(
                "continue_final_message is set, but the template dropped the final message."
            )
        at = rendered.rindex(tag)
        if rendered[at : at + len(_CONTINUE_TAG)] == _CONTINUE_TAG:
            rendered = rendered[:at]
        else:
            rendered = rendered[:at].rstrip()
    return rendered


def render_chat(
    template: str,
    messages: Sequence[Any],
    *,
    add_generation_prompt: bool,
    tools: Sequence[Any] | None,
    documents: Sequence[Any] | None,
    continue_final_message: bool,
    special_tokens: Mapping[str, str],
    extra: Mapping[str, Any],
) -> str:
    """Render one conversation; template failures become :class:`ChatTemplateError`."""
    _compile(template)  # a syntax error first, as before any message is checked
    prepared = prepare_chat(
        template,
        messages,
        add_generation_prompt=add_generation_prompt,
        tools=tools,
        documents=documents,
        continue_final_message=continue_final_message,
        special_tokens=special_tokens,
        extra=extra,
    )
    return render_prepared(prepared)
