"""Feature and part-mask extraction: unit-norm BNNeck features, batch-size invariance, the
gated last-layer RMP masks, and clear errors for models that predict no masks."""

from __future__ import annotations

import polars as pl
import pytest
import torch
import torch.nn.functional as F

from reid.data.loading import Preprocess
from reid.evaluation.extract import (
    extract,
    extract_features,
    predict_part_masks,
    predicts_masks,
)
from reid.model.checkpoint import load_for_inference
from reid.utils.images import read_image
from tests.evaluation.helpers import demo_encoder


@pytest.fixture(scope="module")
def paths(bench) -> list[str]:
    """Eight C3 query/gallery images: batches of 7 leave a partial one."""
    return pl.read_parquet(bench.manifests / "C3.parquet").filter(pl.col("split") != "train")["path"].to_list()[:8]


def test_features_are_unit_norm_bnneck_features_in_input_order(bench, paths) -> None:
    encoder = load_for_inference(bench.checkpoint)
    feats = extract_features(encoder, paths, batch_size=5, device="cpu")
    assert feats.shape == (len(paths), encoder.config.feature_dim) and feats.dtype == torch.float32
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(len(paths)), atol=1e-6, rtol=0)
    with torch.inference_mode():
        direct = F.normalize(encoder.features(_images(encoder, paths[-3:])).features_bn)
    torch.testing.assert_close(feats[-3:], direct, atol=1e-5, rtol=0)


def test_batch_size_and_workers_do_not_change_features(bench, paths) -> None:
    encoder = load_for_inference(bench.checkpoint)
    one = extract_features(encoder, paths, batch_size=1, device="cpu")
    seven = extract_features(encoder, paths, batch_size=7, device="cpu", workers=2)
    torch.testing.assert_close(one, seven, atol=1e-5, rtol=0)


def test_part_masks_are_the_gated_last_layer_prediction(bench, paths) -> None:
    encoder = load_for_inference(bench.checkpoint)
    masks = predict_part_masks(encoder, paths, batch_size=4, device="cpu")
    assert masks.shape == (len(paths), 3, 128) and masks.dtype == torch.bool
    with torch.inference_mode():
        logits = encoder.features(_images(encoder, paths[:2])).mask_logits[-1]
    assert torch.equal(masks[:2], torch.sigmoid(logits) > encoder.config.rmp.threshold)
    both = extract(encoder, paths, batch_size=4, device="cpu", with_masks=True)
    assert torch.equal(both.part_masks, masks)


@pytest.mark.parametrize("fields", [{"parts": ()}, {"part_attention": "stripes"}])
def test_models_without_rmp_have_features_but_no_masks(paths, fields) -> None:
    encoder = demo_encoder(**fields)
    assert not predicts_masks(encoder.config)
    feats = extract_features(encoder, paths[:3], device="cpu")
    assert feats.shape == (3, encoder.config.feature_dim)
    with pytest.raises(ValueError, match="predicts no part masks"):
        predict_part_masks(encoder, paths[:3], device="cpu")


def _images(encoder, paths: list[str]) -> torch.Tensor:
    """The model-ready batch [B, 3, H, W] of `paths`, prepared by hand."""
    preprocess = Preprocess.for_model(encoder.config)
    return torch.stack([preprocess(read_image(p)) for p in paths])
