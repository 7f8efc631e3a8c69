"""What every `reid` subcommand shares: the app and one-line errors.

A `ReidError` (bad input, bad parameter, missing artifact) ends a command with its message
on one line and exit status 2, as a DVC stage does; a full disk with status 1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from reid.errors import user_failure

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
