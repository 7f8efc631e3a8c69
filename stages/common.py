"""What every stage entry point shares: reading its section of params.yaml, once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

PARAMS_FILE = Path("params.yaml")


def load_params(path: Path = PARAMS_FILE) -> dict[str, Any]:
    """Read the whole params.yaml (stages run from the repository root, as DVC does)."""
    if not path.exists():
        raise FileNotFoundError(f"{path.resolve()} not found: run stages from the repository root (dvc repro does)")
    with open(path) as fh:
        return yaml.safe_load(fh) or {}


def read_protocol(path: Path = Path("data/protocol/protocol.json")) -> dict[str, Any]:
    """The resolved protocol the `protocol` stage wrote (sources, targets, synthetic flag, …)."""
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `dvc repro protocol` first")
    with open(path) as fh:
        return json.load(fh)
