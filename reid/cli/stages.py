"""One subcommand per pipeline stage, built from the wiring table, usable without DVC.

`reid NAME` runs the library function `python -m stages.NAME` runs, with the same validated
params (`--params FILE`, repeatable `--set key=value` overrides in dvc's `-S` syntax) and the
same paths: one option per input and output role of the table (`reid ground --store DIR`),
each defaulting to the path dvc.yaml declares.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from reid.cli.common import command
from reid.config.load import load_config
from reid.wiring import STAGES, run_stage

Params = Annotated[Path, typer.Option(help="Params file for the hyper-parameters (validated as the stages do).")]
Sets = Annotated[list[str] | None, typer.Option("--set", "-S", help="Override KEY=VALUE, e.g. train.epochs=1 (repeatable).")]
SHORT = {"model": "-m"}  # input flags shared with the model subcommands (reid evaluate -m)


def option(role: str) -> str:
    return f"--{role.replace('_', '-')}"


def role_parameters(name: str) -> list[inspect.Parameter]:
    """One `--ROLE PATH` option per input and output of stage `name`; unset = the table's path."""
    stage = STAGES[name]
    inputs = {role: spec for role, spec in stage.inputs.items() if not spec.via}
    return [
        inspect.Parameter(role, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            Path | None, typer.Option(option(role), *([SHORT[role]] if role in SHORT and role in inputs else []),
                                      help=f"{spec.help} (default: {spec.path})", show_default=False)])
        for role, spec in {**inputs, **stage.outputs}.items()
    ]


PARAMS = [inspect.Parameter("params", inspect.Parameter.KEYWORD_ONLY, default=Path("params.yaml"), annotation=Params),
          inspect.Parameter("set_", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Sets)]


def stage_command(name: str) -> None:
    """Register `reid NAME` for stage `name`."""

    def run(params: Path, set_: list[str] | None, **paths: Path | None) -> None:
        run_stage(name, load_config(params, set_), paths)

    run.__name__ = name
    run.__doc__ = STAGES[name].help
    run.__signature__ = inspect.Signature([*role_parameters(name), *PARAMS])  # type: ignore[attr-defined]
    command(run)


def register(skip: tuple[str, ...]) -> None:
    """Every stage's subcommand except those in `skip` (a subcommand that does more, defined by hand)."""
    for name in STAGES:
        if name not in skip:
            stage_command(name)


def with_roles(name: str, fn: Any) -> Any:
    """`fn`'s own options followed by stage `name`'s role options and --params/--set (`fn` takes **paths)."""
    own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD
           and p.name not in ("params", "set_")]
    fn.__signature__ = inspect.Signature([*own, *role_parameters(name), *PARAMS])
    return fn
