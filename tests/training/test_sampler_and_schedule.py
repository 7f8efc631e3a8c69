import math

import pytest
import torch

from reid.training.config import Stage1, Stage2
from reid.training.sampler import IdentityBatchSampler
from reid.training.schedule import stage1_lr, stage2_factor
from tests.kit.params import section

LABELS = torch.tensor([c for c in range(10) for _ in range(5 if c % 2 else 3)])  # 5 or 3 images per id


def test_batches_hold_p_identities_with_k_images_each():
    sampler = IdentityBatchSampler(LABELS, ids_per_batch=4, images_per_id=4, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) > 0
    for batch in batches:
        labels = LABELS[batch].view(4, 4)
        assert (labels == labels[:, :1]).all() and labels[:, 0].unique().numel() == 4


def test_identities_with_enough_images_are_never_repeated_within_an_epoch():
    sampler = IdentityBatchSampler(LABELS, ids_per_batch=2, images_per_id=2, seed=3)
    seen = [i for batch in sampler for i in batch]
    rich = [i for i in seen if LABELS[i] % 2 == 1]  # 5 images: two groups of 2, drawn without replacement
    assert len(rich) == len(set(rich))


def test_epochs_are_reproducible_and_differ():
    a = IdentityBatchSampler(LABELS, 4, 2, seed=1)
    b = IdentityBatchSampler(LABELS, 4, 2, seed=1)
    a.set_epoch(3)
    b.set_epoch(3)
    assert list(a) == list(b)
    b.set_epoch(4)
    assert list(a) != list(b)


def test_too_few_identities_is_an_error():
    with pytest.raises(ValueError, match="cannot fill"):
        IdentityBatchSampler(LABELS, ids_per_batch=11, images_per_id=2)


def test_stage1_warms_up_linearly_then_follows_a_cosine():
    cfg = section("stage1", epochs=10, lr=1.0, min_lr=0.5, warmup_epochs=2, warmup_lr=0.1)
    assert [stage1_lr(cfg, e) for e in (0, 1)] == [0.1, 0.55]
    assert stage1_lr(cfg, 2) == 1.0
    assert math.isclose(stage1_lr(cfg, 6), 0.75)  # half-way through the cosine: (lr + min_lr) / 2
    assert stage1_lr(cfg, 9) < stage1_lr(cfg, 8) < stage1_lr(cfg, 7)


def test_stage2_warms_up_per_iteration_and_steps_at_milestones():
    cfg = section("stage2", epochs=60, warmup_iters=10, warmup_factor=0.1, milestones=[30, 50], gamma=0.1)
    assert math.isclose(stage2_factor(cfg, 0, 0), 0.1)
    assert math.isclose(stage2_factor(cfg, 0, 5), 0.55)
    assert stage2_factor(cfg, 0, 10) == 1.0
    assert math.isclose(stage2_factor(cfg, 29, 5000), 1.0)
    assert math.isclose(stage2_factor(cfg, 30, 5000), 0.1)
    assert math.isclose(stage2_factor(cfg, 50, 9000), 0.01)


@pytest.mark.parametrize(
    "cls,data,message",
    [
        (Stage2, {"i2t_similarity": "l2"}, "i2t_similarity"),
        (Stage2, {"loss_weights": {"triplet": 1.0}}, "loss_weights.triplet"),
        (Stage2, {"lr_rmp": 1.0}, "lr_rmp"),
        (Stage1, {"epoch": 3}, "epoch"),
    ],
)
def test_bad_parameters_are_named(cls, data, message):
    with pytest.raises(ValueError, match=message):
        cls.model_validate({**section(cls.__name__.lower()).model_dump(), **data})
