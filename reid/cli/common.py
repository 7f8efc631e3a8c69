"""What every `reid` subcommand shares: the app, one-line errors, and the params file with overrides.

A `ReidError` (bad input, bad parameter, missing artifact) ends a command with its message
on one line and exit status 2, as a DVC stage does; a full disk with status 1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
import yaml
from pydantic import ValidationError

from reid.config.load import config_error, read_yaml
from reid.config.schema import PipelineConfig
from reid.errors import InputError, user_failure

app = typer.Typer(help="MUVA domain-generalised person re-identification: pipeline stages and a trained model.",
                  no_args_is_help=True, pretty_exceptions_enable=False)

F = TypeVar("F", bound=Callable[..., Any])


def command(fn: F) -> F:
    """Register `fn` as a subcommand whose `ReidError`s are one line and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            failure = user_failure(exc)
            if failure is None:
                raise
            fail(*failure)

    app.command()(wrapper)
    return fn


def fail(message: str, status: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(status)


def load_params(path: Path, overrides: list[str] | None) -> PipelineConfig:
    """The params file validated like a stage's, after `--set key.path=VALUE` overrides (dvc's `-S`
    syntax; VALUE is read as YAML: `train.epochs=1`, `protocol.targets=[MA]`, `model.clip=null`)."""
    data, lines = read_yaml(path)
    for item in overrides or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set '{item}': expected KEY=VALUE, e.g. train.epochs=1")
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InputError(f"--set '{item}': {part} is not a section")
        node[leaf] = yaml.safe_load(text)
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, Path(path), lines) from None

