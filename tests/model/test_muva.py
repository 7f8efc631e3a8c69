"""Forward and backward of the whole demo model, as the two training stages will use it."""

import torch
import torch.nn.functional as F

from reid.model.muva import freeze_patch_projection
from tests.model.helpers import N_PATCHES, random_images, row_masks


def test_training_forward_outputs(model):
    model.train()
    out = model(random_images(4))
    assert out.features.shape == out.features_bn.shape == (4, 512)
    assert out.logits.shape == (4, 6)
    assert out.mask_logits.shape == (3, 4, 3, N_PATCHES)
    for tensor in out:
        assert tensor.dtype == torch.float32 and torch.isfinite(tensor).all()


def test_gradients_reach_every_trained_part(model):
    model.train()
    freeze_patch_projection(model)
    out = model(random_images(4))
    text = model.encode_text(torch.tensor([0, 3]))
    loss = (
        F.cross_entropy(out.logits, torch.tensor([0, 1, 2, 3]))
        + F.binary_cross_entropy_with_logits(out.mask_logits, row_masks(4).expand(3, -1, -1, -1))
        + (out.features[:2] * text).sum() * 1e-3
    )
    loss.backward()
    encoder = model.image.encoder
    nonzero = lambda p: p.grad is not None and p.grad.abs().sum() > 0  # noqa: E731
    assert nonzero(encoder.local_tokens)
    assert all(nonzero(p) for rmp in encoder.rmp for p in rmp.parameters())
    assert nonzero(model.prompts.tokens)
    assert nonzero(model.classifier.weight)
    assert nonzero(model.image.bnneck.weight)
    assert nonzero(encoder.visual.transformer.resblocks[0].attn.in_proj_weight)
    assert encoder.visual.conv1.weight.grad is None, "patch projection should be frozen"
    assert model.image.bnneck.bias.grad is None and not model.image.bnneck.bias.requires_grad


def test_stage1_forward_with_pseudo_labels_has_no_mask_logits(model):
    with torch.no_grad():
        out = model(random_images(2), row_masks(2))
    assert out.mask_logits is None


def test_inference_feature_is_the_normalised_bnneck_feature(model):
    images = random_images(3)
    with torch.no_grad():
        feature = model.image(images)
        expected = F.normalize(model(images).features_bn, dim=-1)
    assert feature.shape == (3, 512)
    torch.testing.assert_close(feature.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(feature, expected)


def test_classifier_and_bnneck_initialisation(model):
    assert model.classifier.bias is None
    assert 0.0005 < model.classifier.weight.std() < 0.002
    assert torch.equal(model.image.bnneck.bias, torch.zeros(512))
