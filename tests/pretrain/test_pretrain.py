"""The demo's vision-language prior: contrastive pre-training, its checkpoint, resume, the stage's switch."""

import json

import numpy as np
import open_clip
import polars as pl
import pytest
import torch

from reid.errors import ConfigError
from reid.model.muva import build_muva
from reid.pretrain.data import tokenize
from reid.pretrain.run import SKIPPED, run_pretrain_step
from reid.pretrain.train import lr_at, run_pretrain
from reid.pretrain.zero_shot import text_to_image_retrieval
from reid.synth.captioned import generate_captioned
from tests.kit.clip import PRETRAIN_CLIP
from tests.kit.kill_child import kill_then_resume
from tests.kit.params import muva, section, tiny_pretrain

TINY_RUN = tiny_pretrain()
TINY_POOL = TINY_RUN.data


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> pl.DataFrame:
    root = tmp_path_factory.mktemp("captioned")
    pairs = generate_captioned(root, TINY_POOL, workers=1)
    return pairs.with_columns(pl.concat_str(pl.lit(f"{root}/"), pl.col("path")).alias("path"))


@pytest.fixture(scope="module")
def trained(pool, tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    record = run_pretrain(pool, PRETRAIN_CLIP, TINY_RUN, root / "clip.pt", root / "state", root / "live")
    return root, record


def test_the_contrastive_loss_falls(trained):
    root, record = trained
    history = torch.load(root / "state" / "last.pt", weights_only=False)["history"]
    losses = [h["loss/contrastive"] for h in history]
    assert len(losses) == TINY_RUN.epochs and record["epoch"] == TINY_RUN.epochs - 1
    # 32 pairs per batch: log(32) = 3.47 is the loss of a model that matches nothing
    assert losses[0] > 3.0 and losses[-1] < losses[0] - 0.5, losses
    assert 0.0 <= record["zero_shot/R@1"] <= 100.0 and record["zero_shot/chance@1"] < 100.0


def test_the_checkpoint_is_an_open_clip_file_that_model_pretrained_loads_with_identical_outputs(trained, pool):
    root, _ = trained
    clip = open_clip.CLIP(**PRETRAIN_CLIP)
    open_clip.load_checkpoint(clip, str(root / "clip.pt"))  # what a user's own open_clip code would do
    clip.eval()
    images = torch.randn(3, 3, 64, 64)
    # global-only MUVA at the pre-training input size: its feature is exactly CLIP's image embedding
    config = muva(4, clip=PRETRAIN_CLIP, image_size=[64, 64], parts=[])
    model = build_muva(config, pretrained=str(root / "clip.pt")).eval()
    with torch.no_grad():
        assert torch.allclose(model.image.features(images).features, clip.encode_image(images), atol=1e-5)
        tokens = tokenize(pool["caption"].to_list()[:2], 77)
        eot = tokens.argmax(-1)
        ours = model.text(clip.token_embedding(tokens), eot)
        assert torch.allclose(ours, clip.encode_text(tokens), atol=1e-5)
    random_init = build_muva(config)
    assert not torch.equal(random_init.image.encoder.visual.conv1.weight, model.image.encoder.visual.conv1.weight)


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(pool, tmp_path):
    pool.write_parquet(tmp_path / "pairs.parquet")
    whole, killed = kill_then_resume("pretrain", tmp_path, timeout=300)
    a = torch.load(whole / "clip.pt", weights_only=True)["state_dict"]
    b = torch.load(killed / "clip.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    steps = json.loads((killed / "live" / "metrics.json").read_text())["step"]
    assert steps == 2  # 3 epochs, one logged point each, none repeated


def test_the_step_only_marks_its_outputs_when_the_weights_come_from_elsewhere(tmp_path):
    dirs = {name: tmp_path / name for name in ("models", "data", "state", "live")}
    for pretrained in ("openai", None):
        model = section("model", pretrained=pretrained, clip=PRETRAIN_CLIP)
        record = run_pretrain_step(TINY_RUN, model, dirs["models"] / "clip.pt", dirs["data"], dirs["state"], dirs["live"],
                                   tmp_path / "metrics.json")
        assert record["skipped"] and json.loads((tmp_path / "metrics.json").read_text()) == record
        assert all((d / SKIPPED).is_file() for d in dirs.values())
        assert not (dirs["models"] / "clip.pt").exists() and len(list(dirs["data"].iterdir())) == 1


def test_a_caption_longer_than_the_text_context_is_refused_not_cut():
    with pytest.raises(ConfigError, match=r"^model.clip.text_cfg.context_length = 8: 1 captions are longer than the "
                                          r"text context of 8 tokens, e.g. 'a photo .*'; give the backbone a longer"):
        tokenize(["a photo of a person in a red shirt and blue jeans"], 8)


def test_warm_up_then_cosine():
    config = section("pretrain", epochs=10, lr=1e-3, min_lr=1e-5, warmup_epochs=1)
    rates = [lr_at(config, step, 100) for step in range(100)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert rates[10] == pytest.approx(1e-3) and rates[-1] == pytest.approx(1e-5, rel=0.05)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))


def test_bad_pretrain_parameters_are_named():
    with pytest.raises(ValueError, match="batch_size = 1: must be >= 2"):
        section("pretrain", batch_size=1)
    with pytest.raises(ValueError, match="pretrain.epochs"):
        section("pretrain", epochs=0)


def test_retrieval_recall_and_chance_by_hand():
    # 2 identities x 2 images; captions 0 and 1 (identity 0 and 1) against the 4 images
    image_ids = np.array([0, 0, 1, 1])
    text_ids = np.array([0, 1])
    images = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    text = torch.tensor([[0.0, 1.0], [0.0, 1.0]])  # both captions point at identity 1's images
    result = text_to_image_retrieval(text, images, text_ids, image_ids, ks=(1, 2))
    assert result.recall == {1: 0.5, 2: 0.5}
    # 2 positives of 4: P(hit in 1) = 1/2; P(hit in 2) = 1 - (2/4)(1/3) = 5/6
    assert result.chance[1] == pytest.approx(0.5) and result.chance[2] == pytest.approx(5 / 6)
