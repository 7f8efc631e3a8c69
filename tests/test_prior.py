"""A CLIP prior through `reid.load_model`: its embed is CLIP's normalised image embedding on the Re-ID
models' preprocessing, whether the file names its architecture or only fits a named backbone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import open_clip
import polars as pl
import pytest
import torch
from safetensors.torch import save_file

import reid
from reid.data.loading import Preprocess
from reid.errors import InputError
from reid.model.checkpoint import read_checkpoint
from reid.model.clip_configs import BACKBONE_CONFIGS
from reid.pretrain.train import clip_input_size
from reid.utils.images import read_image
from tests.kit.clip import PRETRAIN_CLIP
from tests.kit.prior import write_prior


def some_images(bench, n: int = 5) -> list[np.ndarray]:
    return [read_image(p) for p in pl.read_parquet(bench.manifests / "C3.parquet")["path"].to_list()[:n]]


def clip_embedding(clip: open_clip.CLIP, preprocess: Preprocess, images: list[np.ndarray]) -> np.ndarray:
    """open_clip's own normalised image embedding of `images` prepared by `preprocess`."""
    with torch.no_grad():
        return clip.encode_image(torch.stack([preprocess(x) for x in images]), normalize=True).numpy()


def test_a_prior_embeds_by_clips_normalised_image_embedding_on_the_reid_preprocessing(bench, tmp_path):
    written = write_prior(tmp_path / "clip.pt")
    clip = open_clip.CLIP(**PRETRAIN_CLIP).eval()
    open_clip.load_checkpoint(clip, str(tmp_path / "clip.pt"))  # as a user's own open_clip code reads it
    reid_model = reid.load_model(bench.checkpoint, "cpu")
    expected = Preprocess(clip_input_size(PRETRAIN_CLIP), reid_model.preprocess.mean, reid_model.preprocess.std)
    prior = reid.load_model(tmp_path / "clip.pt", "cpu")
    assert prior.preprocess == expected and prior.config.method == "clip_prior" and prior.feature_dim == 32
    images = some_images(bench)
    features = prior.embed(images, batch_size=2)
    assert features.dtype == np.float32 and features.shape == (5, 32)
    np.testing.assert_allclose(features, clip_embedding(clip, expected, images), atol=1e-6)
    assert not np.allclose(features, clip_embedding(open_clip.CLIP(**PRETRAIN_CLIP).eval(), expected, images),
                           atol=1e-3)  # the file's weights, not a fresh CLIP's
    assert torch.equal(written.visual.conv1.weight, prior.module.visual.conv1.weight)
    with pytest.raises(InputError, match="predicts no part masks"):
        prior.part_masks(images)


@pytest.mark.parametrize("name", ["open_clip_pytorch_model.bin", "open_clip_model.safetensors"])
def test_weights_without_a_config_take_the_named_backbone_they_fit(bench, tmp_path, name):
    """As open_clip keeps downloaded weights (OpenAI's ViT-B-16 among them): a bare state dict."""
    torch.manual_seed(2)
    clip = open_clip.CLIP(**BACKBONE_CONFIGS["demo"]).eval()
    path = tmp_path / name
    (save_file if path.suffix == ".safetensors" else torch.save)(clip.state_dict(), path)
    prior = reid.load_model(path, "cpu")
    assert prior.config.clip == BACKBONE_CONFIGS["demo"] and prior.config.image_size == (128, 64)
    images = some_images(bench, 3)
    np.testing.assert_allclose(prior.embed(images), clip_embedding(clip, prior.preprocess, images), atol=1e-6)


def test_a_file_that_is_neither_is_refused_and_a_damaged_reid_checkpoint_named(bench, tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    tiny = open_clip.CLIP(**PRETRAIN_CLIP)
    torch.save({"state_dict": tiny.state_dict()}, tmp_path / "tiny.pt")  # no config, and no named backbone's shapes
    for name, reason in {"junk.pt": "unreadable", "other.pt": "fit no backbone", "tiny.pt": "fit no backbone"}.items():
        with pytest.raises(InputError, match=f"neither a Re-ID checkpoint .* nor an open_clip checkpoint .*{reason}"):
            reid.load_model(tmp_path / name, "cpu")
    damaged = {**read_checkpoint(bench.checkpoint), "state_dict": {}}
    torch.save(damaged, tmp_path / "damaged.pt")
    with pytest.raises(InputError, match="not a readable MUVA checkpoint"):
        reid.load_model(tmp_path / "damaged.pt", "cpu")


def test_the_prior_input_size_is_its_pretraining_resolution(tmp_path: Path):
    """A non-square prior (the demo's is 128 x 64) keeps its (height, width)."""
    config = {**PRETRAIN_CLIP, "vision_cfg": {**PRETRAIN_CLIP["vision_cfg"], "image_size": [64, 32]}}
    torch.manual_seed(0)
    clip = open_clip.CLIP(**config)
    torch.save({"state_dict": clip.state_dict(), "clip_config": config}, tmp_path / "tall.pt")
    assert reid.load_model(tmp_path / "tall.pt", "cpu").preprocess.image_size == (64, 32) == clip_input_size(config)
