"""ONNX export of a trained encoder, checked against PyTorch with onnxruntime (extra `export`).

The graph takes preprocessed images `images` [B, 3, H, W] float32 (resize to the model's
input size, then (x/255 − mean)/std: `reid.data.loading.Preprocess`) with a dynamic batch
axis, and returns `features` [B, D] (the L2-normalised BNNeck features `embed` gives) and,
for AM-MSA models, `part_masks` [B, P, Npatch] bool (the last layer's gated RMP prediction).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reid.errors import ReidError
from reid.evaluation.extract import predicts_masks
from reid.model.attention_mask import gate_predicted_masks
from reid.model.muva import ReidEncoder

TOLERANCE = 1e-4  # max abs difference of the features allowed between onnxruntime and PyTorch


class _Exported(nn.Module):
    """The encoder's inference outputs as plain tensors (what the ONNX graph computes)."""

    def __init__(self, encoder: ReidEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.with_masks = predicts_masks(encoder.config)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.encoder.features(images)
        features = F.normalize(out.retrieval, dim=-1)
        if not self.with_masks:
            return (features,)
        return features, gate_predicted_masks(out.mask_logits[-1], self.encoder.config.rmp.threshold)


def export_onnx(encoder: ReidEncoder, path: str | os.PathLike, check_batch: int = 3, seed: int = 0) -> float:
    """Write `encoder` (float32, CPU) as ONNX to `path`; return the features' max abs difference
    to PyTorch on a random batch of `check_batch` (another size than the export's: the batch
    axis is dynamic), raising if it exceeds `TOLERANCE` or the masks differ."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ReidError("ONNX export needs onnx, onnxscript and onnxruntime: pip install 'reid-muva[export]'") from None
    module = _Exported(encoder.cpu().float()).eval()
    height, width = encoder.config.image_size
    outputs = ["features", "part_masks"] if module.with_masks else ["features"]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(2, 3, height, width)
    torch.onnx.export(module, (example,), str(path), input_names=["images"], output_names=outputs,
                      dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, external_data=False,
                      verbose=False)
    images = torch.randn(check_batch, 3, height, width, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        expected = [t.numpy() for t in module(images)]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(outputs, {"images": images.numpy()})
    diff = float(np.abs(got[0] - expected[0]).max())
    if diff > TOLERANCE or (module.with_masks and not np.array_equal(got[1], expected[1])):
        raise RuntimeError(f"{path}: onnxruntime differs from PyTorch (features by {diff:.2e}; allowed {TOLERANCE})")
    return diff
