import open_clip
import pytest
import torch

from reid.model.backbone import (
    create_vision_tower,
    fit_positional_embedding,
    interpolate_pos_embed,
)
from reid.model.clip_configs import BACKBONE_CONFIGS
from tests.kit.params import muva


def test_interpolation_is_the_identity_on_an_unchanged_grid():
    pos = torch.randn(1 + 14 * 14, 24)
    torch.testing.assert_close(interpolate_pos_embed(pos, (14, 14)), pos, rtol=0, atol=1e-6)


def test_interpolation_to_the_reid_grid_keeps_cls_and_constants():
    pos = torch.randn(1 + 14 * 14, 24)
    pos[1:] = torch.linspace(-1, 1, 24)  # every patch position equal
    resized = interpolate_pos_embed(pos, (16, 8))
    assert resized.shape == (1 + 16 * 8, 24)
    assert torch.equal(resized[0], pos[0])
    torch.testing.assert_close(resized[1:], pos[1:2].expand(128, -1))


def test_interpolation_follows_the_row_major_layout():
    rows = torch.arange(14.0).repeat_interleave(14)  # value = row index of the 14x14 grid
    pos = torch.cat([torch.zeros(1), rows])[:, None]
    resized = interpolate_pos_embed(pos, (16, 8), mode="bilinear")[1:, 0].view(16, 8)
    assert torch.all(resized[:, :1] == resized)  # constant along each row
    assert torch.all(resized[1:, 0] > resized[:-1, 0])  # increasing down the rows


def test_a_non_square_source_grid_needs_its_shape():
    with pytest.raises(ValueError, match="not a square grid"):
        interpolate_pos_embed(torch.randn(1 + 12, 4), (4, 2))
    with pytest.raises(ValueError, match=r"not a \(3, 3\) grid"):
        interpolate_pos_embed(torch.randn(1 + 12, 4), (4, 2), old_grid=(3, 3))
    rows = torch.arange(4.0).repeat_interleave(3)  # a 4x3 grid whose value is the row index
    resized = interpolate_pos_embed(torch.cat([torch.zeros(1), rows])[:, None], (8, 3), "bilinear", old_grid=(4, 3))
    grid = resized[1:, 0].view(8, 3)
    assert torch.all(grid[:, :1] == grid) and torch.all(grid[1:, 0] >= grid[:-1, 0]) and grid[-1, 0] == 3.0


def test_the_demo_clip_is_fitted_from_its_128x64_pretraining_grid():
    config = muva(2, backbone="demo", image_size=[256, 128])
    visual = create_vision_tower(config)
    assert tuple(visual.grid_size) == (8, 4)
    fit_positional_embedding(visual, config)
    assert tuple(visual.grid_size) == (16, 8) and visual.positional_embedding.shape == (1 + 128, 128)


def test_vit_b16_is_fitted_to_256x128():
    config = muva(2, backbone="ViT-B-16", image_size=[256, 128])
    visual = create_vision_tower(config)
    original = visual.positional_embedding.detach().clone()
    assert original.shape == (197, 768)
    fit_positional_embedding(visual, config)
    assert visual.positional_embedding.shape == (129, 768)
    assert tuple(visual.grid_size) == (16, 8)
    assert torch.equal(visual.positional_embedding[0], original[0])
    assert isinstance(visual.positional_embedding, torch.nn.Parameter)


def test_the_backbones_are_open_clip_configs_that_build_the_models_they_did():
    """ViT-B-16 is open_clip's own config with QuickGELU (OpenAI's weights need it); demo is our JSON file,
    registered with open_clip, building the very model its former inline config built."""
    assert BACKBONE_CONFIGS["ViT-B-16"] == {**open_clip.get_model_config("ViT-B-16"), "quick_gelu": True}
    before = {"embed_dim": 128, "quick_gelu": True,
              "vision_cfg": {"image_size": [128, 64], "layers": 3, "width": 128, "head_width": 32, "patch_size": 16},
              "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 128, "heads": 4, "layers": 2}}
    assert open_clip.get_model_config("demo") == BACKBONE_CONFIGS["demo"] == before
    torch.manual_seed(0)
    old = open_clip.CLIP(**before).state_dict()
    torch.manual_seed(0)
    new = open_clip.create_model("demo").state_dict()
    assert old.keys() == new.keys() and all(torch.equal(old[k], new[k]) for k in old)
