"""configs/paper.yaml is the one switch to the paper's setting: same keys as params.yaml, paper values."""

from pathlib import Path

import yaml

from reid.training.config import Stage1Config, Stage2Config, TrainConfig
from reid.training.model_config import muva_config

REPO = Path(__file__).resolve().parents[2]


def keys(tree, prefix=""):
    if not isinstance(tree, dict):
        return {prefix}
    return {k for name, sub in tree.items() for k in keys(sub, f"{prefix}.{name}" if prefix else name)}


def load(name):
    return yaml.safe_load((REPO / name).read_text())


def test_the_paper_config_has_exactly_the_keys_of_params_yaml():
    assert keys(load("configs/paper.yaml")) == keys(load("params.yaml"))


def test_the_paper_config_holds_the_papers_training_recipe():
    paper = load("configs/paper.yaml")
    assert Stage1Config.from_dict(paper["stage1"]) == Stage1Config()  # the dataclass defaults are SPEC §5
    assert Stage2Config.from_dict(paper["stage2"]) == Stage2Config()
    train = TrainConfig.from_dict(paper["train"])
    assert (train.batch_size, train.augment.random_crop, train.augment.random_erasing, train.vision_only) == (64, False, 0.0, False)
    model = paper["model"]
    assert (model["backbone"], model["pretrained"], paper["grounding"]["expert"]) == ("ViT-B-16", "openai", "cogvlm")
    config = muva_config(model, ["MA"], 751, [0] * 751)
    assert config.feature_dim == 2048 and config.patch_grid == (16, 8) and config.rmp.heads == 2
