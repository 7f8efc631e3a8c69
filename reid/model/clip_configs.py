"""The named CLIP backbones: open_clip JSON model configs, read as plain data.

Data only (json and the file system, nothing of reid, no open_clip, no torch), so that the
configuration schema, which every stage loads, can check a backbone's name and geometry.

- `ViT-B-16` is open_clip's own config in its QuickGELU variant (`ViT-B-16-quickgelu.json`):
  OpenAI's weights, which the paper fine-tunes, were trained with QuickGELU.  The file is found
  with `importlib.util.find_spec`, which locates open_clip without executing it.
- `demo` (`model_configs/demo.json`, shipped with the package and registered with open_clip where
  models are built) is the small CLIP of the embedded demo, pre-trained here on captioned synthetic
  people (stage `pretrain`, SPEC §8) in minutes on 2 CPU cores.  Like ViT-B-16 it is pre-trained at
  a lower resolution (128x64, an 8x4 grid: 32 tokens, a person filling the frame) and its positional
  embedding is interpolated to the re-ID grid; same patch size, so the 16x8 pseudo-label masks fit it.
"""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path
from typing import Any

OUR_CONFIGS = Path(__file__).with_name("model_configs")  # registered with open_clip by reid.model.backbone


def _open_clip_configs() -> Path:
    spec = find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("open_clip is not installed: pip install -c constraints.txt -e .")
    return Path(next(iter(spec.submodule_search_locations))) / "model_configs"


BACKBONE_FILES: dict[str, Path] = {
    "ViT-B-16": _open_clip_configs() / "ViT-B-16-quickgelu.json",
    "demo": OUR_CONFIGS / "demo.json",
}
BACKBONE_CONFIGS: dict[str, dict[str, Any]] = {name: json.loads(path.read_text()) for name, path in BACKBONE_FILES.items()}
