import numpy as np
import polars as pl
import pytest
import torch

from reid.data.loading import Preprocess, TrainingSet
from reid.engine.distributed import Dist
from reid.errors import ArtifactError
from reid.masks.grid import PatchGrid
from reid.masks.store import write_masks
from reid.model.configs import MuvaConfig
from reid.model.muva import build_muva
from reid.training.data import load_training_data
from reid.training.stage2 import prepare_model
from reid.utils.images import write_image
from tests.kit.params import section, tiny_config, tiny_model_params
from tests.training.helpers import write_training_set


def test_manifest_and_masks_are_joined_by_image_id(tmp_path):
    train_path, masks_path = write_training_set(tmp_path, ids=3, per_id=2)
    train = pl.read_parquet(train_path)
    shuffled = train.reverse()
    ids = shuffled["image_id"].to_list()
    masks = np.zeros((6, 3, 8), dtype=bool)
    for row, image_id in enumerate(ids):
        masks[row, 0, int(image_id.split("_")[-1][0])] = True  # patch index = image number within its id
    write_masks(masks_path, ids, masks, {})
    data = load_training_data(train_path, masks_path)
    assert data.num_classes == 3 and data.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert [int(torch.nonzero(m[0])[0]) for m in data.masks] == [0, 1, 0, 1, 0, 1]


def test_an_image_without_a_mask_is_named(tmp_path):
    train_path, masks_path = write_training_set(tmp_path, ids=2, per_id=2)
    ids = pl.read_parquet(train_path)["image_id"].to_list()
    write_masks(masks_path, ids[1:], np.zeros((3, 3, 8), dtype=bool), {})
    with pytest.raises(ArtifactError, match=f"no pseudo-label mask for 1 training images.*'{ids[0]}'.*dvc repro calibrate"):
        load_training_data(train_path, masks_path)


def test_labels_out_of_range_or_with_gaps_are_named(tmp_path):
    train_path, masks_path = write_training_set(tmp_path, ids=3, per_id=1)
    train = pl.read_parquet(train_path)
    train.with_columns(pl.Series("label", [0, -1, 2])).write_parquet(train_path)
    with pytest.raises(ArtifactError, match="'T/train/0001_0.png' with label -1 outside 0..2.*dvc repro protocol"):
        load_training_data(train_path, masks_path)
    train.with_columns(pl.Series("label", [0, 2, 2])).write_parquet(train_path)
    with pytest.raises(ArtifactError, match="no training image has label 1.*dvc repro protocol"):
        load_training_data(train_path, masks_path)


def test_masks_of_another_grid_are_refused(tmp_path):
    data = load_training_data(*write_training_set(tmp_path, ids=2, per_id=1))
    with pytest.raises(ArtifactError, match="masks.parquet has masks of 8 patches but the model has 128.*dvc repro calibrate"):
        data.check_fits(128)


def marked_set(tmp_path, augment):
    """One 64x32 image, white in its left column of patches, with a head mask on the left patches."""
    image = np.zeros((64, 32, 3), dtype=np.uint8)
    image[:, :16] = 255
    write_image(tmp_path / "a.png", image)
    masks = torch.zeros(1, 3, 8, dtype=torch.bool)
    masks[0, 0, 0::2] = True  # left column of the 4 x 2 grid
    return TrainingSet([str(tmp_path / "a.png")], torch.tensor([0]), masks, Preprocess((64, 32)), PatchGrid(64, 32, 16, 16), augment, seed=0)


def test_a_flip_moves_image_and_masks_together(tmp_path):
    dataset = marked_set(tmp_path, section("train.augment", flip=1.0))
    image, masks, label, index = dataset[0]
    assert (image[:, :, 16:] == 1.0).all() and (image[:, :, :16] == -1.0).all()  # white now on the right
    assert masks[0].tolist() == [0.0, 1.0] * 4
    unflipped = marked_set(tmp_path, section("train.augment", flip=0.0))[0]
    assert (unflipped[0][:, :, :16] == 1.0).all() and unflipped[1][0].tolist() == [1.0, 0.0] * 4


def test_augmentation_is_a_function_of_seed_epoch_and_index(tmp_path):
    dataset = marked_set(tmp_path, section("train.augment", flip=0.5, random_crop=True, random_erasing=0.5))
    flips = []
    for epoch in range(8):
        dataset.epoch = epoch
        first, again = dataset[0], dataset[0]
        assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
        flips.append(first[1][0, 1].item())
    assert 0 < sum(flips) < 8  # both outcomes occur over epochs


def test_model_config_follows_the_protocol():
    single = MuvaConfig.of(tiny_model_params(rmp={"heads": "auto"}), ["MA"], 4, [0] * 4)
    assert single.rmp.heads == 2 and single.num_classes == 4
    assert MuvaConfig.of(tiny_model_params(), ["MS"], 4, [0] * 4).rmp.heads == 8
    multi = MuvaConfig.of(tiny_model_params(prompts={"style": "domain_specific"}), ["D", "MS"], 4, [0, 0, 1, 1])
    assert multi.rmp.heads == 8 and len(multi.prompts.domain_phrases) == 2 and multi.class_domains == (0, 0, 1, 1)
    assert MuvaConfig.of(tiny_model_params(rmp={"heads": 4}), ["MA"], 4, [0] * 4).rmp.heads == 4
    with pytest.raises(ValueError, match="no domain phrase for \\['MINE'\\]"):
        MuvaConfig.of(tiny_model_params(prompts={"style": "domain_specific"}), ["MINE"], 4, [0] * 4)


def test_sync_bn_on_cpu_processes_is_refused_before_training():
    with pytest.raises(ValueError, match="sync_bn needs CUDA"):
        prepare_model(build_muva(tiny_config(4)), section("train", sync_bn=True), Dist(0, 2, torch.device("cpu")))


def test_missing_or_unreadable_training_inputs_name_the_stage_that_makes_them(tmp_path):
    train_path, masks_path = write_training_set(tmp_path, ids=2, per_id=1)
    whole = {p: p.read_bytes() for p in (train_path, masks_path)}
    cases = [
        (train_path, "protocol", lambda p: p.unlink(), r"is missing"),
        (train_path, "protocol", lambda p: p.write_bytes(whole[p][: len(whole[p]) // 2]), r"is unreadable \(.+\)"),
        (train_path, "protocol", lambda p: p.write_bytes(b"not a parquet file"), r"is unreadable \(.+\)"),
        (train_path, "protocol", lambda p: pl.DataFrame({"image_id": ["a"]}).write_parquet(p),
         r"is unreadable \(no column path, label, domain, camid\)"),
        (masks_path, "calibrate", lambda p: p.unlink(), r"is missing"),
        (masks_path, "calibrate", lambda p: p.write_bytes(whole[p][: len(whole[p]) // 2]), r"is unreadable \(.+\)"),
        (masks_path, "calibrate", lambda p: pl.DataFrame({"image_id": ["a"]}).write_parquet(p),
         r"is unreadable \(ValueError: no mask metadata: not a mask store\)"),
    ]
    for path, stage, damage, problem in cases:
        damage(path)
        with pytest.raises(ArtifactError, match=rf"^{path} {problem}: it is made by stage '{stage}'; "
                                                 rf"re-run it with `dvc repro {stage}`$") as caught:
            load_training_data(train_path, masks_path)
        assert caught.value.stage == stage and str(caught.value.path) == str(path)
        path.write_bytes(whole[path])
