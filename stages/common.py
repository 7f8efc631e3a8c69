"""What every stage entry point shares: `--params FILE`, the validated tree, and one-line errors.

A stage runs the library function its row of `reid.wiring.STAGES` names, with the parameter
sections that row declares (reading another one is a bug: DVC would not re-run the stage
when it changes) and the paths of its inputs and outputs, as `reid <stage>` does.
A `ReidError` (bad parameter, bad input, missing artifact) ends the stage with its message on
one line and exit status 2; a full disk with the path and status 1; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from reid.config.load import load_config
from reid.errors import user_failure
from reid.wiring import run_stage

PARAMS_FILE = Path("params.yaml")


def main(name: str) -> None:
    """The entry point of stage `name`: parse `--params`, validate the whole tree, run the stage."""

    def command(
        params: Annotated[Path, typer.Option(help="The params file (default: params.yaml, as dvc repro uses).")] = PARAMS_FILE,
    ) -> None:
        try:
            run_stage(name, load_config(params))
        except Exception as exc:
            failure = user_failure(exc)
            if failure is None:
                raise
            fail(name, *failure)

    typer.run(command)


def fail(name: str, message: str, status: int) -> None:
    print(f"error in stage {name}: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)
