"""Every ablation the demo can switch (README, Training) builds and trains one step of each stage.

The model switches go through `MuvaConfig.of`, as params.yaml's `model` section does; the tiny set
has one P x K batch, so one epoch is one step.
"""

import math

import open_clip
import pytest
import torch

import reid.training.stage2 as stage2_module
from reid.engine.distributed import Dist
from reid.model.checkpoint import read_checkpoint
from reid.training.data import load_training_data
from reid.model.configs import MuvaConfig
from reid.model.params import Model
from reid.training.stage1 import MODEL_FILE, run_stage1
from reid.training.stage2 import run_stage2
from tests.kit.clip import TINY_CLIP
from tests.training.helpers import write_training_set
from tests.kit.params import tiny_model_params, tiny_train_configs

SOURCES = ("MA", "D")  # two domains: domain-specific prompts pick a phrase per identity
# write_training_set's G rows on the 4 x 2 grid (row-major patches; a flip leaves them unchanged)
PATCHES = {"head": [1, 1, 0, 0, 0, 0, 0, 0], "upper": [0, 0, 1, 1, 1, 1, 0, 0], "legs": [0, 0, 0, 0, 0, 0, 1, 1]}

ABLATIONS = [
    pytest.param({}, False, id="full"),
    pytest.param({"parts": []}, False, id="global_only"),
    *(pytest.param({"parts": parts}, False, id="+".join(parts))
      for parts in (["head"], ["upper"], ["legs"], ["head", "upper"], ["head", "legs"], ["upper", "legs"])),
    pytest.param({"part_attention": "stripes"}, False, id="stripes"),
    pytest.param({}, True, id="vision_only"),
    pytest.param({"prompts": {"style": "part_agnostic"}}, False, id="part_agnostic"),
    pytest.param({"prompts": {"style": "domain_specific"}}, False, id="domain_specific"),
]


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("ablations")
    return load_training_data(*write_training_set(root, ids=4, per_id=2, domains=len(SOURCES)))


def train_one_step(tmp_path, data, model_params: Model, vision_only: bool = False, spy=None):
    """Stage-1 then stage-2, one epoch (= one step) each; returns (config, stage-1 log, stage-2 log)."""
    train, stage1, stage2 = tiny_train_configs(epochs=1)
    train, stage1 = train.model_copy(update={"vision_only": vision_only}), stage1.model_copy(update={"epochs": 1})
    config = MuvaConfig.of(model_params, SOURCES, data.num_classes, data.class_domains)
    record1 = run_stage1(data, config, model_params.pretrained, train, stage1,
                         tmp_path / "stage1", tmp_path / "s1state", tmp_path / "s1live", Dist())
    record2 = run_stage2(data, tmp_path / "stage1", train, stage2,
                         tmp_path / "muva.pt", tmp_path / "s2state", tmp_path / "s2live", Dist())
    return config, record1, record2


def finite_losses(record: dict) -> bool:
    return all(math.isfinite(v) for k, v in record.items() if k.startswith("loss/"))


@pytest.mark.parametrize(("fields", "vision_only"), ABLATIONS)
def test_an_ablation_trains_one_step_of_each_stage(tmp_path, tiny_set, monkeypatch, fields, vision_only):
    steps = []
    real = stage2_module.step_losses

    def spy(out, part_targets, *args):
        losses = real(out, part_targets, *args)
        steps.append((part_targets, set(losses)))
        return losses

    monkeypatch.setattr(stage2_module, "step_losses", spy)
    config, record1, record2 = train_one_step(tmp_path, tiny_set, tiny_model_params(**fields), vision_only)

    assert (record1 == {}) == vision_only
    assert vision_only or (finite_losses(record1) and "loss/prototype" in record1)
    assert len(steps) == 1 and finite_losses(record2)
    predicts = bool(config.parts) and config.part_attention == "am_msa"
    expected = {"id", "imp"} | ({"mask"} if predicts else set()) | (set() if vision_only else {"i2tce"})
    (part_targets, names), = steps
    assert names == expected and {k for k in record2 if k.startswith("loss/")} == {f"loss/{n}" for n in expected}
    rows = torch.tensor([PATCHES[p] for p in config.parts], dtype=part_targets.dtype).reshape(len(config.parts), 8)
    assert torch.equal(part_targets, rows.expand(len(part_targets), -1, -1))
    assert read_checkpoint(tmp_path / "muva.pt")["config"]["model"]["parts"] == list(config.parts)


def test_a_local_open_clip_file_initialises_both_towers(tmp_path, tiny_set):
    torch.manual_seed(1)
    saved = open_clip.CLIP(**TINY_CLIP).state_dict()
    torch.save(saved, tmp_path / "clip.pt")
    # where each CLIP weight lives in the MUVA model (the token table and logit_scale are not kept)
    prefixes = {"visual.": "image.encoder.", "transformer.": "text.", "positional_embedding": "text.",
                "ln_final.": "text.", "text_projection": "text."}
    kept = {next(to for frm, to in prefixes.items() if k.startswith(frm)) + k: v
            for k, v in saved.items() if k not in ("token_embedding.weight", "logit_scale")}
    for pretrained in (str(tmp_path / "clip.pt"), None):
        run = tmp_path / str(pretrained is None)
        _, record1, record2 = train_one_step(run, tiny_set, tiny_model_params(pretrained=pretrained))
        assert finite_losses(record1) and finite_losses(record2)
        trained = read_checkpoint(run / "stage1" / MODEL_FILE)["state_dict"]  # stage-1 trains the prompts only
        if pretrained:
            assert all(torch.equal(trained[k], v) for k, v in kept.items())
        else:  # every randomly drawn matrix differs (LayerNorm ones and zero biases match any init)
            assert not any(torch.equal(trained[k], v) for k, v in kept.items() if v.ndim >= 2)
