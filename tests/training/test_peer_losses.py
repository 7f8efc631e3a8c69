"""The CLIP-ReID lineage's losses and schedule on hand-computed cases (PEERS.md §1, §2.2, §2.5)."""

import math

import pytest
import torch
import torch.nn.functional as F

from reid.model.domain import grad_reverse
from reid.training.config import recipe
from reid.training.peer_losses import apn_loss, batch_hard_triplet, domain_loss, supcon
from reid.training.schedule import peer_image_factor
from tests.kit.params import section


def test_supcon_averages_the_log_softmax_over_each_anchors_positives():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    labels_a, labels_b = torch.tensor([0, 1]), torch.tensor([0, 1, 0])
    # anchor 0: logits (1, 0, 1), positives j = 0, 2; anchor 1: logits (0, 1, 1), positive j = 1
    lse = math.log(2 * math.e + 1)
    expected = -((1 - lse) + (1 - lse)) / 2 / 2 - (1 - lse) / 2
    assert supcon(a, b, labels_a, labels_b).item() == pytest.approx(expected, abs=1e-6)


def test_batch_hard_triplet_takes_the_farthest_positive_and_the_nearest_negative():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]])  # on a line: ids 0, 0, 1, 1
    labels = torch.tensor([0, 0, 1, 1])
    # anchors: d_ap (1, 1, 4, 4), d_an (3, 2, 2, 6)
    gaps = torch.tensor([1 - 3, 1 - 2, 4 - 2, 4 - 6], dtype=torch.float)
    assert batch_hard_triplet(x, labels, 0.3).item() == pytest.approx(2.3 / 4, abs=1e-5)  # only anchor 2 violates
    assert batch_hard_triplet(x, labels, None).item() == pytest.approx(F.softplus(gaps).mean().item(), abs=1e-5)


def test_apn_as_released_pushes_images_away_from_the_invariant_prompt_and_the_paper_direction_pulls():
    torch.manual_seed(0)
    invariant, relevant = torch.randn(8, 6), torch.randn(8, 6)
    start = torch.randn(8, 6)
    moved = {}
    for direction in ("code", "paper"):
        f = start.clone().requires_grad_(True)
        apn_loss(f, invariant, relevant, direction).backward()
        with torch.no_grad():
            stepped = f - 0.1 * f.grad
        moved[direction] = (F.cosine_similarity(stepped, invariant) - F.cosine_similarity(start, invariant)).mean()
    assert moved["code"] < 0 < moved["paper"]
    f = torch.randn(5, 6)
    expected = F.soft_margin_loss(F.cosine_similarity(f, relevant[:5]) - F.cosine_similarity(f, invariant[:5]),
                                  torch.ones(5))  # CLIP-FGDI's loss/apn_loss.py
    assert apn_loss(f, invariant[:5], relevant[:5], "code").item() == pytest.approx(expected.item(), abs=1e-6)


def test_gradient_reversal_negates_and_scales_the_gradient_only():
    x = torch.randn(4, 3, requires_grad=True)
    y = grad_reverse(x, 0.1)
    assert torch.equal(y, x)
    (y * torch.arange(3.0)).sum().backward()
    assert torch.allclose(x.grad, -0.1 * torch.arange(3.0).expand(4, 3))


def test_with_one_domain_the_domain_loss_is_zero_and_moves_nothing():
    logits = torch.randn(6, 1, requires_grad=True)
    loss = domain_loss(F.log_softmax(logits, dim=1), torch.zeros(6, dtype=torch.long))
    loss.backward()
    assert loss.item() == 0.0 and torch.count_nonzero(logits.grad) == 0


def test_the_image_schedule_reproduces_fgdis_logged_rates():
    fgdi = section("clip_fgdi", prior_epochs=3,
                   image={"epochs": 60, "lr": 5e-6, "warmup_epochs": 10, "warmup_factor": 0.1, "milestones": [30, 50]})
    image = fgdi.image
    # the train log: the 3 prior epochs run at 0.95e-6, 1.4e-6, 1.85e-6 (scheduler stepped before each)
    assert [image.lr * peer_image_factor(image, e + 1) for e in range(3)] == pytest.approx([0.95e-6, 1.4e-6, 1.85e-6])
    # stage 3 continues the same scheduler: its epoch j (0-based) is scheduler epoch 3 + j + 1
    rates = [peer_image_factor(image, fgdi.prior_epochs + j + 1) for j in range(60)]
    drops = [j + 1 for j in range(1, 60) if rates[j] < rates[j - 1] * 0.5]
    assert drops == [27, 47]


def test_clip_reid_is_clip_fgdi_with_its_additions_off():
    reid = recipe(section("clip_reid"))
    assert (reid.prior_epochs, reid.beta, reid.omega) == (0, 0.0, 0.0)
    assert reid.losses.model_dump() == {"id": 0.25, "triplet": 1.0, "i2tce": 1.0, "triplet_margin": 0.3}
    fgdi = section("clip_fgdi")
    assert recipe(fgdi) is fgdi
