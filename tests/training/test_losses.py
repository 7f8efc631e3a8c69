import math

import torch
import torch.nn.functional as F

from reid.training.losses import i2t_loss, id_loss, imp_loss, mask_loss, prototype_loss


def test_prototype_loss_is_ce_over_cosines_at_temperature_one():
    memory = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text = torch.tensor([[3.0, 0.0]])  # cosine 1 to row 0, 0 to row 1
    expected = -math.log(math.e / (math.e + 1.0))
    assert math.isclose(prototype_loss(text, memory, torch.tensor([0])).item(), expected, rel_tol=1e-6)


def test_id_loss_smooths_labels():
    logits = torch.tensor([[2.0, 0.0, 0.0]])
    logp = F.log_softmax(logits, dim=1)[0]
    expected = -(0.9 + 0.1 / 3) * logp[0] - (0.1 / 3) * (logp[1] + logp[2])
    assert math.isclose(id_loss(logits, torch.tensor([0]), 0.1).item(), expected.item(), rel_tol=1e-6)


def test_imp_loss_divides_cosines_by_tau():
    memory = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    features = torch.tensor([[5.0, 5.0]])  # cosine 0.7071 to both rows
    assert math.isclose(imp_loss(features, memory, torch.tensor([1]), 0.01).item(), math.log(2), rel_tol=1e-6)
    features = torch.tensor([[1.0, 0.0]])
    assert math.isclose(imp_loss(features, memory, torch.tensor([0]), 0.01).item(), math.log1p(math.exp(-100)), abs_tol=1e-12)


def test_i2t_dot_uses_raw_products_cosine_normalises():
    text = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    features = torch.tensor([[1.0, 1.0]])
    dot = i2t_loss(features, text, torch.tensor([1]), 0.0, "dot")
    assert math.isclose(dot.item(), -math.log(math.e / (math.e**2 + math.e)), rel_tol=1e-6)
    cosine = i2t_loss(features, text, torch.tensor([1]), 0.0, "cosine")
    assert math.isclose(cosine.item(), math.log(2), rel_tol=1e-6)


def test_mask_loss_is_bce_plus_dice_on_patch_counts_averaged_over_layers():
    targets = torch.tensor([[[1.0, 0.0, 1.0, 0.0]]])  # B=1, P=1, N=4
    perfect = torch.where(targets.bool(), 20.0, -20.0)[None].repeat(3, 1, 1, 1)  # L=3
    assert mask_loss(perfect, targets).item() < 1e-6
    zero = torch.zeros(2, 1, 1, 4)  # sigmoid 0.5 everywhere
    # counts over the 4 patches: overlap 2 * 0.5, prediction 4 * 0.5, target 2
    dice = 1 - (2 * 1.0 + 1e-3) / (2.0 + 2.0 + 1e-3)
    assert math.isclose(mask_loss(zero, targets).item(), math.log(2) + dice, rel_tol=1e-6)


def test_dice_of_an_empty_prediction_is_0_for_an_empty_target_and_1_for_a_non_empty_one():
    empty = torch.full((1, 1, 1, 4), -30.0, dtype=torch.float64)  # sigmoid ~ 1e-13 everywhere
    assert mask_loss(empty, torch.zeros(1, 1, 4, dtype=torch.float64)).item() < 1e-6
    targets = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]], dtype=torch.float64)
    bce = (2 * math.log1p(math.exp(30.0)) + 2 * math.log1p(math.exp(-30.0))) / 4
    dice = 1 - 1e-3 / (2.0 + 1e-3)
    assert math.isclose(mask_loss(empty, targets).item(), bce + dice, abs_tol=1e-9)
    assert dice > 0.999


def test_dice_on_an_empty_target_charges_a_faint_prediction_almost_fully():
    """The official smoothing (1e-3 on counts): 128 patches at sigmoid(-5) cost 0.9988, not 0.87 as on fractions."""
    faint = torch.full((1, 1, 1, 128), -5.0, dtype=torch.float64)
    p = 1 / (1 + math.exp(5.0))
    bce = math.log1p(math.exp(-5.0))
    dice = 1 - 1e-3 / (128 * p + 1e-3)
    assert math.isclose(mask_loss(faint, torch.zeros(1, 1, 128, dtype=torch.float64)).item(), bce + dice, rel_tol=1e-9)
    assert 0.998 < dice < 0.999
