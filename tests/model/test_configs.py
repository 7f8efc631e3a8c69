import json

import pytest

from reid.model.clip_configs import BACKBONE_CONFIGS
from reid.model.configs import MuvaConfig


def test_round_trip_through_plain_data():
    config = MuvaConfig.from_dict(
        {
            "num_classes": 5,
            "backbone": "demo",
            "parts": ["head", "legs"],
            "rmp": {"heads": 8, "layer_norm": False, "threshold": 0.6},
            "prompts": {"style": "domain_specific", "domain_phrases": ["indoors", "outdoors"]},
            "class_domains": [0, 1, 1, 0, 1],
        }
    )
    data = json.loads(json.dumps(config.to_dict()))
    assert MuvaConfig.from_dict(data) == config
    assert config.rmp.heads == 8 and not config.rmp.layer_norm and config.rmp.inner_residual
    assert config.clip == BACKBONE_CONFIGS["demo"]


def test_derived_sizes_for_vit_b16():
    config = MuvaConfig(num_classes=751)
    assert config.patch_grid == (16, 8)
    assert config.num_patches == 128
    assert config.feature_dim == 2048
    assert MuvaConfig(num_classes=751, parts=()).feature_dim == 512


def test_registry_entry_is_not_shared_with_configs():
    config = MuvaConfig(num_classes=3, backbone="demo")
    config.clip["embed_dim"] = 1
    assert BACKBONE_CONFIGS["demo"]["embed_dim"] == 128


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"parts": ("torso",)}, "parts must be distinct names"),
        ({"parts": ("legs", "head")}, "must follow the order"),
        ({"part_attention": "boxes"}, "part_attention"),
        ({"image_size": (250, 128)}, "multiple of the patch size"),
        ({"rmp": {"heads": 5}}, "must divide the vision width"),
        ({"prompts": {"style": "domain_specific"}}, "needs prompts.domain_phrases"),
        ({"prompts": {"style": "domain_specific", "domain_phrases": ["a", "b"]}}, "need class_domains"),
        ({"class_domains": [0, 0]}, "class_domains has 2 entries"),
        ({"backbone": "ViT-Z"}, "unknown backbone"),
        ({"dropout": 0.1}, "unknown model config fields"),
    ],
)
def test_invalid_configs_are_rejected_with_a_reason(fields, message):
    with pytest.raises(ValueError, match=message):
        MuvaConfig.from_dict({"num_classes": 4, **fields})
