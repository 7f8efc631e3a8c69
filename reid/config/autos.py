"""What every `auto` in params.yaml means: the one place each is resolved.

| key                                    | auto means                                              |
|----------------------------------------|---------------------------------------------------------|
| data.datasets                          | every dataset found under data.root, plus data.custom (reid.data.ingest finds them) |
| protocol.targets                       | every dataset found that is not a source                |
| model.rmp.heads                        | 2 for one source other than MSMT17, else 8 (SPEC §4)    |
| train/evaluation/pretrain/… .device    | CUDA if present, else Apple MPS, else CPU               |
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

AUTO = "auto"


def auto_targets(sources: Sequence[str], available: Sequence[str]) -> tuple[str, ...]:
    return tuple(k for k in available if k not in sources)


def auto_rmp_heads(sources: Sequence[str]) -> int:
    """The paper's head count for a training protocol."""
    return 8 if len(sources) > 1 or "MS" in sources else 2


def auto_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
