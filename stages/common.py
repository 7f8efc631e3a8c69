"""What every stage entry point shares: `--params FILE`, the validated tree, and one-line errors.

A stage's body gets the parameter sections its wiring declares (reading another one is a
bug: DVC would not re-run the stage when it changes) and the paths of its inputs and outputs.
A `ReidError` (bad parameter, bad input, missing artifact) ends the stage with its message on
one line and exit status 2; a full disk with the path and status 1; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from reid.config.load import load_config
from reid.config.schema import PipelineConfig
from reid.errors import user_failure
from stages.wiring import STAGES, Stage

PARAMS_FILE = Path("params.yaml")


class StageParams:
    """The sections of the validated tree that one stage declares; any other section is refused."""

    def __init__(self, name: str, config: PipelineConfig, stage: Stage):
        self._name, self._config, self._stage = name, config, stage

    def __getattr__(self, section: str) -> Any:
        if section not in self._stage.sections:
            raise AttributeError(f"stage {self._name} reads params section '{section}', which stages/wiring.py "
                                 f"does not declare for it (declared: {', '.join(self._stage.params)})")
        return getattr(self._config, section)


def run_stage(name: str, body: Callable[[StageParams, Stage], None]) -> None:
    """The entry point of stage `name`: parse `--params`, validate the whole tree, run `body`."""
    stage = STAGES[name]

    def command(
        params: Annotated[Path, typer.Option(help="The params file (default: params.yaml, as dvc repro uses).")] = PARAMS_FILE,
    ) -> None:
        try:
            config = load_config(params)
            body(StageParams(name, config, stage), stage)
        except Exception as exc:
            failure = user_failure(exc)
            if failure is None:
                raise
            fail(name, *failure)

    typer.run(command)


def fail(name: str, message: str, status: int) -> None:
    print(f"error in stage {name}: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)
