import json

import pytest

from reid.model.clip_configs import BACKBONE_CONFIGS
from reid.model.configs import MuvaConfig
from tests.kit.params import muva


def test_round_trip_through_plain_data():
    config = muva(5, backbone="demo", parts=["head", "legs"], rmp={"heads": 8, "layer_norm": False, "threshold": 0.6},
                  prompts={"style": "domain_specific", "domain_phrases": ["indoors", "outdoors"]},
                  class_domains=[0, 1, 1, 0, 1])
    data = json.loads(json.dumps(config.to_dict()))
    assert MuvaConfig.from_dict(data) == config
    assert config.rmp.heads == 8 and not config.rmp.layer_norm and config.rmp.inner_residual
    assert config.clip == BACKBONE_CONFIGS["demo"]


def test_derived_sizes_for_vit_b16():
    config = muva(751, backbone="ViT-B-16", image_size=[256, 128])
    assert config.patch_grid == (16, 8)
    assert config.num_patches == 128
    assert config.feature_dim == 2048
    assert muva(751, backbone="ViT-B-16", image_size=[256, 128], parts=[]).feature_dim == 512


def test_registry_entry_is_not_shared_with_configs():
    config = muva(3, backbone="demo")
    config.clip["embed_dim"] = 1
    assert BACKBONE_CONFIGS["demo"]["embed_dim"] == 128


def test_autos_are_resolved_by_the_protocol():
    assert muva(4, ["MA"]).rmp.heads == 2 and muva(4, ["MS"]).rmp.heads == 8 and muva(4, ["MA", "D"]).rmp.heads == 8
    assert muva(4, ["D", "MS"], [0, 0, 1, 1], prompts={"style": "domain_specific"}).prompts.domain_phrases == [
        "captured by high-resolution outdoor campus cameras in winter",
        "captured by indoor and outdoor cameras under varying daylight"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"parts": ["torso"]}, "parts"),
        ({"parts": ["legs", "head"]}, "must be distinct and in the order"),
        ({"part_attention": "boxes"}, "part_attention"),
        ({"image_size": [250, 128]}, "does not fit the 16-pixel patch grid"),
        ({"rmp": {"heads": 5}}, "must divide the backbone width"),
        ({"prompts": {"style": "domain_specific", "domain_phrases": []}}, "needs prompts.domain_phrases"),
        ({"prompts": {"style": "domain_specific", "domain_phrases": ["a", "b"]}}, "need class_domains"),
        ({"class_domains": [0, 0]}, "class_domains has 2 entries"),
        ({"backbone": "ViT-Z"}, "unknown backbone"),
        ({"dropout": 0.1}, "dropout"),
    ],
)
def test_invalid_configs_are_rejected_with_a_reason(fields, message):
    data = muva(4).to_dict()
    model = {k: {**data["model"][k], **v} if isinstance(v, dict) else v for k, v in fields.items() if k != "class_domains"}
    data["model"] = {**data["model"], **model, "clip": None if "backbone" in fields else data["model"]["clip"]}
    data["class_domains"] = fields.get("class_domains")
    with pytest.raises(ValueError, match=message):
        MuvaConfig.from_dict(data)
