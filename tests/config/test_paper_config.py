"""configs/paper.yaml is the one switch to the paper's setting: same keys as params.yaml, paper values."""

from pathlib import Path

import yaml

from reid.config.load import load_config
from reid.model.configs import MuvaConfig

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
    paper = load_config(REPO / "configs/paper.yaml")
    assert paper.stage1.model_dump() == {  # SPEC §5
        "epochs": 120, "lr": 3.5e-4, "min_lr": 1e-6, "warmup_epochs": 5, "warmup_lr": 1e-5, "weight_decay": 1e-4}
    assert paper.stage2.model_dump() == {
        "epochs": 60, "lr": 5e-6, "rmp_lr_factor": 10, "weight_decay": 1e-4, "warmup_iters": 10, "warmup_factor": 0.1,
        "milestones": [30, 50], "gamma": 0.1, "label_smoothing": 0.1, "imp_temperature": 0.01, "memory_momentum": 0.2,
        "i2t_similarity": "dot", "i2t_temperature": 1.0, "loss_weights": {"id": 1.0, "imp": 1.0, "i2tce": 1.0, "mask": 1.0}}
    train = paper.train
    assert (train.batch_size, train.augment.random_crop, train.augment.random_erasing, train.vision_only) == (64, False, 0.0, False)
    model = paper.model
    assert (model.backbone, model.pretrained, paper.grounding.expert) == ("ViT-B-16", "openai", "cogvlm")
    config = MuvaConfig.of(model, ["MA"], 751, [0] * 751)
    assert config.feature_dim == 2048 and config.patch_grid == (16, 8) and config.rmp.heads == 2
