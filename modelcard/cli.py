"""The ``modelcard`` command: one generator for every subcommand's flags.

Each subcommand is a pydantic model (a :class:`Command`); pydantic-settings' ``CliApp``
turns its fields into flags (kebab-case, ``--no-...`` for booleans, positional
arguments). Every command that loads a card gets ``ModelCard``'s own fields as flags
(:func:`card_command`), so a flag, its ``DYN_*`` variable and the keyword argument are
one definition; a flag not given leaves the variable in charge.

Exit codes: 0 ok, 1 the card or the data failed, 2 usage or settings, 130 interrupted.
Every failure is one line on stderr. ``-v``/``-vv``/``-q`` and ``--version`` may stand
anywhere on the line.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, NoReturn, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .card import ENV_PREFIX, ModelCard
from .errors import ModelCardError

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Command",
    "UsageError",
    "card_command",
    "main",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Modules whose ``COMMANDS`` (name -> Command class) make up the command line; each
#: imports what its command needs only when it runs.
COMMAND_MODULES: tuple[str, ...] = (
    "modelcard.commands",
    "modelcard.verify.command",
    "modelcard.jobs.command",
)

_EPILOG = (
    "exit codes: 0 ok, 1 the card or the data failed, 2 usage or settings, 130 interrupted. "
    "Options -v/-vv (more logging), -q (errors only) and --version may stand anywhere."
)


class UsageError(Exception):
    """The command line is wrong: exit 2 with this message."""


class Command(BaseModel):
    """One subcommand: its fields are its flags; :meth:`run` returns the exit code."""

    model_config = ConfigDict(extra="forbid")

    #: The fields that are ModelCard's, set by :func:`card_command`.
    card_fields: ClassVar[frozenset[str]] = frozenset()

    def run(self) -> int:
        raise NotImplementedError

    def card(self, **overrides: Any) -> ModelCard:
        """The card: flags given, then ``DYN_*`` variables, then defaults."""
        given = {name: getattr(self, name) for name in self.card_fields & self.model_fields_set}
        return ModelCard(**{**given, **overrides})


C = TypeVar("C", bound=type[Command])


def card_command(command: C) -> C:
    """``command`` with one flag per ModelCard field, generated from that field."""
    fields: dict[str, Any] = {}
    for name, info in ModelCard.model_fields.items():
        env = f"{ENV_PREFIX}{name.upper()}"
        required = info.is_required()
        annotation: Any = info.annotation
        fields[name] = (
            annotation | None if required else annotation,
            Field(
                default=None if required else info.default,
                description=f"{info.description} [env {env}]",
            ),
        )
    made: Any = create_model(
        command.__name__,
        __base__=command,
        __doc__=command.__doc__,
        __module__=command.__module__,
        **fields,
    )
    made.card_fields = frozenset(ModelCard.model_fields)
    return made  # type: ignore[no-any-return]


class _Parser(argparse.ArgumentParser):
    """argparse, raising instead of printing a usage block and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _commands() -> dict[str, type[Command]]:
    found: dict[str, type[Command]] = {}
    for name in COMMAND_MODULES:
        found.update(importlib.import_module(name).COMMANDS)
    return found


def _parse(argv: list[str]) -> Command:
    from pydantic_settings import CliApp, CliSettingsSource, CliSubCommand, get_subcommand

    subcommand: Any = CliSubCommand
    fields: dict[str, Any] = {name: (subcommand[cls], ...) for name, cls in _commands().items()}
    root: Any = create_model(
        "modelcard",
        __base__=BaseModel,
        __doc__="Load a model's tokenizer and use it: inspect, encode, decode, verify, tokenize.",
        **fields,
    )
    root.cli_cmd = lambda self: None
    source: Any = CliSettingsSource(
        root,
        root_parser=_Parser(prog="modelcard", epilog=_EPILOG),
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_hide_none_type=True,
        cli_exit_on_error=False,
        cli_use_class_docs_for_groups=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parsed = CliApp.run(root, cli_args=argv, cli_settings_source=source)
    command = get_subcommand(parsed)
    assert isinstance(command, Command)
    return command


def _global_options(argv: Sequence[str]) -> tuple[int, bool, list[str]]:
    """Pull ``-v``/``-q``/``--version`` from anywhere before ``--``; the verbosity,
    whether ``--version`` was asked for, and the rest."""
    verbosity, version, rest = 0, False, list[str]()
    for i, arg in enumerate(argv):
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg in ("-v", "--verbose"):
            verbosity += 1
        elif arg.startswith("-v") and set(arg[1:]) == {"v"}:
            verbosity += len(arg) - 1
        elif arg in ("-q", "--quiet"):
            verbosity = -1
        elif arg == "--version":
            version = True
        else:
            rest.append(arg)
    return verbosity, version, rest


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"modelcard: {record.levelname.lower()}: {record.getMessage()}"


@contextlib.contextmanager
def _logging(verbosity: int) -> Iterator[None]:
    """modelcard's events on stderr at the level asked for; the app's setup comes back after.

    With no structlog configuration, the library logs through the stdlib logger
    ``modelcard`` (see ``modelcard._log``); the hub client's chatter shows from INFO on.
    """
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logger = logging.getLogger("modelcard")
    hub = logging.getLogger("huggingface_hub")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    saved = (logger.level, logger.propagate, hub.level)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    if verbosity >= 2:
        hub.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        hub.setLevel(saved[2])


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def one_line(error: ValidationError) -> str:
    """A settings error as one line naming the flag and the variable of each bad field."""
    parts = []
    for item in error.errors():
        field = str(item["loc"][-1]) if item["loc"] else ""
        message = str(item["msg"]).removeprefix("Value error, ")
        names = f"{_flag(field)} / {ENV_PREFIX}{field.upper()}" if field else ""
        if item["type"] == "missing":
            message = "required"
        # Validators name the setting as "field / DYN_FIELD"; the command line says --field.
        message = message.replace(f"{field} / {ENV_PREFIX}{field.upper()}", names)
        parts.append(message if names and names in message else f"{names}: {message}")
    return "; ".join(parts)


def _fail(message: str) -> None:
    sys.stderr.write(f"modelcard: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    verbosity, version, args = _global_options(sys.argv[1:] if argv is None else argv)
    if version:
        from . import __version__

        sys.stdout.write(f"modelcard {__version__}\n")
        return EXIT_OK
    with _logging(verbosity):
        try:
            try:
                command = _parse(args)
            except SystemExit as exc:  # --help
                return int(exc.code or 0)
            return command.run()
        except UsageError as exc:
            _fail(f"{exc} (modelcard --help for usage)")
            return EXIT_USAGE
        except ValidationError as exc:
            _fail(f"invalid settings: {one_line(exc)}")
            return EXIT_USAGE
        except ModelCardError as exc:
            _fail(str(exc))
            return EXIT_FAILURE
        except KeyboardInterrupt:
            _fail("interrupted")
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            # The reader went away (`modelcard verify | head`): stop quietly, as cat does.
            with contextlib.suppress(OSError):
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces a closed stream
            return EXIT_FAILURE
