"""configs/paper*.yaml are the one switch to each paper's setting: same keys as params.yaml, paper values."""

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


def test_the_peer_paper_configs_have_exactly_the_keys_of_params_yaml():
    for name in ("configs/paper_clip_fgdi.yaml", "configs/paper_clip_reid.yaml"):
        assert keys(load(name)) == keys(load("params.yaml")), name


def test_the_clip_fgdi_paper_config_holds_its_codes_recipe():
    paper = load_config(REPO / "configs/paper_clip_fgdi.yaml")
    fgdi = paper.clip_fgdi
    assert paper.method == "clip_fgdi" and paper.model.image_size == [224, 224] and paper.train.batch_size == 128
    assert (fgdi.prior_epochs, fgdi.prompts.epochs, fgdi.domain_prompts.epochs, fgdi.image.epochs) == (3, 120, 30, 60)
    assert (fgdi.beta, fgdi.omega, fgdi.grl, fgdi.domain_lr, fgdi.image.lr) == (0.1, 0.01, 0.1, 0.01, 5e-6)
    assert (fgdi.apn_direction, fgdi.domain_unit, fgdi.input_norm, fgdi.test_feature) == (
        "code", "dataset", "instance", "before_bn")
    assert fgdi.losses.triplet_margin is None and fgdi.prompt_batch_size == 128 and not fgdi.prompt_reshuffle
    augment = paper.train.augment
    assert (augment.flip, augment.random_crop, augment.grayscale, augment.color_jitter, augment.augmix,
            augment.random_erasing) == (0.4, True, 0.1, 0.1, 0.6, 0.0)
    assert (paper.model.backbone, paper.model.pretrained) == ("ViT-B-16", "openai")


def test_the_clip_reid_paper_config_holds_its_codes_recipe():
    paper = load_config(REPO / "configs/paper_clip_reid.yaml")
    reid = paper.clip_reid
    assert paper.method == "clip_reid" and paper.model.image_size == [256, 128] and paper.train.batch_size == 64
    assert reid.losses.model_dump() == {"id": 0.25, "triplet": 1.0, "i2tce": 1.0, "triplet_margin": 0.3}
    assert (reid.prompts.epochs, reid.image.epochs, reid.image.milestones, reid.input_norm) == (120, 60, [30, 50], "clip")
    assert (paper.train.augment.random_crop, paper.train.augment.random_erasing) == (True, 0.5)
