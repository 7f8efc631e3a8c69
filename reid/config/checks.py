"""Checks of the configuration against the machine and the data, run before a stage's work.

The typed tree (`schema`) checks what the params file alone decides; these need more: whether
CUDA is there, where a custom dataset lies, how many identities the protocol trains on.  Each
raises a ConfigError that names the parameter.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from reid.errors import ConfigError


def check_device(key: str, name: str) -> None:
    """A CUDA device is asked for only where there is one."""
    if not name.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        raise ConfigError(key, name, "CUDA is not available on this machine", fix="use auto or cpu")
    index = int(name.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise ConfigError(key, name, f"this machine has {torch.cuda.device_count()} CUDA device(s)",
                          fix="use auto or cuda:0")


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def check_custom_folders(custom: Mapping[str, str], root: str | os.PathLike, custom_dir: str | os.PathLike) -> None:
    """Every custom dataset exists and lies where the ingest stage's dependencies can see it; a relative
    folder is read from the working directory (the repository), as ingestion reads it."""
    for key, folder in custom.items():
        path = Path(folder)
        if not path.exists():
            raise ConfigError(f"data.custom.{key}", folder, f"no such folder {path.absolute()} (a relative folder is "
                              f"relative to the repository root, the working directory)",
                              fix="give the folder holding the dataset's listing (CSV or parquet) and images")
        path = path if path.is_dir() else path.parent  # the listing file itself names its folder
        if not (_inside(path, Path(root)) or _inside(path, Path(custom_dir))):
            raise ConfigError(
                f"data.custom.{key}", folder,
                f"lies outside data.root ({root}) and {custom_dir}/, so DVC cannot see when its listing or "
                f"images change", fix=f"move or copy the folder under {custom_dir}/",
            )


def check_identities(num_identities: int, ids_per_batch: int) -> None:
    """P×K batches need at least P identities."""
    if num_identities < ids_per_batch:
        raise ConfigError("train.ids_per_batch", ids_per_batch,
                          f"the protocol's source has only {num_identities} training identities",
                          fix=f"use at most {num_identities}, or a larger source")
