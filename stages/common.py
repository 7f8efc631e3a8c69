"""What every stage entry point shares: reading its section of params.yaml, once."""

from __future__ import annotations

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
