"""What every stage entry point shares: `--params FILE`, the validated tree, and one-line errors.

A stage's body gets the parameter sections its wiring declares (reading another one is a
bug: DVC would not re-run the stage when it changes) and the paths of its inputs and outputs.
A `ReidError` (bad parameter, bad input, missing artifact) ends the stage with its message on
one line and exit status 2; a full disk with the path and status 1; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from reid.config.load import load_config
from reid.config.schema import PipelineConfig
from reid.errors import ConfigError, ReidError
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


@contextmanager
def building(key: str) -> Iterator[None]:
    """Turn the library's ValueError for a section's values into a ConfigError naming the section."""
    try:
        yield
    except ReidError:
        raise
    except ValueError as exc:
        raise ConfigError(key, ..., str(exc)) from None


def run_stage(name: str, body: Callable[[StageParams, Stage], None]) -> None:
    """The entry point of stage `name`: parse `--params`, validate the whole tree, run `body`."""
    stage = STAGES[name]

    def command(
        params: Annotated[Path, typer.Option(help="The params file (default: params.yaml, as dvc repro uses).")] = PARAMS_FILE,
    ) -> None:
        try:
            config = load_config(params)
            body(StageParams(name, config, stage), stage)
        except ReidError as exc:
            fail(name, str(exc), 2)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            fail(name, f"no space left on device writing {exc.filename or 'a file'}: free space there and re-run "
                       f"(everything written before is kept)", 1)

    typer.run(command)


def fail(name: str, message: str, status: int) -> None:
    print(f"error in stage {name}: {' '.join(message.split())}", file=sys.stderr, flush=True)
    raise SystemExit(status)
