"""AM-MSA masking on the demo model: what each token may attend to, layer by layer."""

import pytest
import torch

from reid.model.attention_mask import gate_predicted_masks, stripe_part_masks
from reid.model.image_encoder import record_attention
from tests.model.helpers import (
    N_PATCHES,
    demo_model,
    patch_pixels,
    random_images,
    row_masks,
)

P = 3  # local tokens
PATCHES = slice(1 + P, None)


def attention(model, images, masks=None):
    with torch.no_grad(), record_attention(model.image.encoder) as weights:
        encoding = model.image.encoder(images, masks)
    return encoding, weights


def test_with_pseudo_labels_local_tokens_attend_only_inside_their_part(model):
    masks = row_masks(2)
    masks[1, 0, :4] = 0  # second sample: a head part of other shape
    _, weights = attention(model, random_images(2), masks)
    assert len(weights) == model.image.encoder.num_layers
    for layer in weights:  # [B, heads, L, L]
        assert layer.shape == (2, 4, 1 + P + N_PATCHES, 1 + P + N_PATCHES)
        for part in range(P):
            row = layer[:, :, 1 + part]
            inside = masks[:, part].bool()[:, None].expand(-1, layer.shape[1], -1)
            assert torch.all(row[:, :, PATCHES][~inside] == 0), "attention leaks outside the part"
            assert torch.all(row[:, :, PATCHES][inside] > 0)
            others = [1 + p for p in range(P) if p != part]
            assert torch.all(row[:, :, others] == 0), "local tokens must not see each other"
            assert torch.all(row[:, :, [0, 1 + part]] > 0)
        assert torch.all(layer[:, :, 0] > 0), "CLS attends to everything"
        assert torch.all(layer[:, :, :, 0] > 0), "everything attends to CLS"


def test_patches_see_only_the_local_tokens_covering_them(model):
    masks = row_masks(1)
    _, weights = attention(model, random_images(1), masks)
    seen = weights[0][0, 0, PATCHES, 1 : 1 + P] > 0  # [N, P]
    assert torch.equal(seen, masks[0].bool().T)


def first_layer_local_token(model, images, masks, part):
    outputs = []
    hook = model.image.encoder.visual.transformer.resblocks[0].register_forward_hook(
        lambda module, args, output: outputs.append(output[:, 1 + part])
    )
    with torch.no_grad():
        model.image.encoder(images, masks)
    hook.remove()
    return outputs[0]


def test_first_layer_local_token_ignores_patches_outside_its_part(model):
    images, masks = random_images(1), row_masks(1)  # head = patches 0..31
    reference = first_layer_local_token(model, images, masks, part=0)
    outside, inside = images.clone(), images.clone()
    rows, cols = patch_pixels(100)  # a leg patch
    outside[..., rows, cols] += 3.0
    rows, cols = patch_pixels(10)  # a head patch
    inside[..., rows, cols] += 3.0
    torch.testing.assert_close(first_layer_local_token(model, outside, masks, 0), reference, rtol=0, atol=1e-6)
    assert (first_layer_local_token(model, inside, masks, 0) - reference).abs().max() > 1e-3


def test_an_empty_part_sees_cls_and_itself_and_stays_finite(model):
    masks = row_masks(2)
    masks[0, 1] = 0  # no upper body in the first image
    encoding, weights = attention(model, random_images(2), masks)
    for layer in weights:
        row = layer[0, :, 2]  # upper-body local token of image 0
        assert torch.all(row[:, [0, 2]] > 0)
        assert torch.all(row[:, [1, 3]] == 0) and torch.all(row[:, PATCHES] == 0)
        torch.testing.assert_close(row.sum(-1), torch.ones(row.shape[0]))
    assert torch.isfinite(encoding.tokens).all()


def test_predicted_masks_gate_the_same_layer(model):
    encoding, weights = attention(model, random_images(2))
    logits = encoding.mask_logits
    assert logits.shape == (3, 2, P, N_PATCHES) and logits.dtype == torch.float32
    for layer, layer_weights in enumerate(weights):
        gated = gate_predicted_masks(logits[layer], 0.5)
        assert 0 < gated.sum() < gated.numel(), "random init should give a mixed mask"
        for head in range(layer_weights.shape[1]):
            assert torch.equal(layer_weights[:, head, 1 : 1 + P, PATCHES] > 0, gated)


def test_pseudo_labels_replace_the_prediction(model):
    encoding, _ = attention(model, random_images(1), row_masks(1))
    assert encoding.mask_logits is None


def test_stripes_ignore_pseudo_labels_and_skip_the_rmp():
    model = demo_model(part_attention="stripes")
    assert len(model.image.encoder.rmp) == 0
    encoding, weights = attention(model, random_images(1), row_masks(1))
    assert encoding.mask_logits is None
    stripes = stripe_part_masks((16, 8))
    for layer in weights:
        assert torch.equal(layer[0, 0, 1 : 1 + P, PATCHES] > 0, stripes)


def test_a_subset_of_parts_uses_the_matching_rows_of_g():
    model = demo_model(parts=("legs",))
    masks = row_masks(1)
    encoding, weights = attention(model, random_images(1), masks)
    assert encoding.tokens.shape == (1, 2, 128)
    assert torch.equal(weights[0][0, 0, 1, 2:] > 0, masks[0, 2].bool())


def test_global_only_has_no_local_tokens_and_no_mask():
    model = demo_model(parts=())
    encoding, weights = attention(model, random_images(2), row_masks(2))
    assert encoding.tokens.shape == (2, 1, 128) and encoding.mask_logits is None
    assert model.image.encoder.local_tokens is None and len(model.image.encoder.rmp) == 0
    assert all(torch.all(layer > 0) for layer in weights)


@pytest.mark.parametrize("with_masks", [False, True])
def test_fused_inference_path_matches_the_autograd_path(model, with_masks):
    images = random_images(3)
    masks = row_masks(3) if with_masks else None
    with torch.no_grad():
        fused = model.image.encoder(images, masks).tokens
    autograd = model.image.encoder(images, masks).tokens
    torch.testing.assert_close(fused, autograd)


def test_wrong_input_sizes_are_explained(model):
    with pytest.raises(ValueError, match="expects \\(16, 8\\)"):
        model.image.encoder(torch.randn(1, 3, 224, 224))
    with pytest.raises(ValueError, match="part_masks must have shape"):
        model.image.encoder(random_images(1), torch.ones(1, 3, 64))
