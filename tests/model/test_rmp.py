import math

import pytest
import torch

from reid.model.rmp import PartCrossAttention, ResidualMaskPredictor


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("heads", [1, 2, 8, 16])
def test_one_rmp_layer_of_vit_b16_has_the_papers_size(heads):
    assert n_params(ResidualMaskPredictor(768, 128, heads)) == 2_479_616


def test_without_layer_norm_the_three_norms_are_gone():
    rmp = ResidualMaskPredictor(768, 128, 2, layer_norm=False)
    assert n_params(rmp) == 2_479_616 - 3 * 2 * 768
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in rmp.modules())


def test_logits_accumulate_over_layers():
    torch.manual_seed(0)
    rmp = ResidualMaskPredictor(32, 10, 2)
    local, patches = torch.randn(2, 3, 32), torch.randn(2, 10, 32)
    previous = torch.randn(2, 3, 10)
    zero_prior = rmp(local, patches, torch.zeros(2, 3, 10))
    torch.testing.assert_close(rmp(local, patches, previous), zero_prior + previous)


def test_inner_residual_feeds_the_local_tokens_to_the_mlp():
    torch.manual_seed(0)
    with_rc = ResidualMaskPredictor(32, 10, 2, inner_residual=True)
    without_rc = ResidualMaskPredictor(32, 10, 2, inner_residual=False)
    without_rc.load_state_dict(with_rc.state_dict())
    local, patches, prior = torch.randn(2, 3, 32), torch.randn(2, 10, 32), torch.zeros(2, 3, 10)
    assert not torch.allclose(with_rc(local, patches, prior), without_rc(local, patches, prior))


def test_cross_attention_matches_a_per_head_reference():
    torch.manual_seed(0)
    width, heads = 16, 4
    attn = PartCrossAttention(width, heads)
    queries, context = torch.randn(2, 3, width), torch.randn(2, 7, width)
    q, k, v = attn.q(queries), attn.k(context), attn.v(context)
    d = width // heads
    outputs = []
    for h in range(heads):
        part = slice(h * d, (h + 1) * d)
        weights = torch.softmax(q[..., part] @ k[..., part].transpose(1, 2) / math.sqrt(d), dim=-1)
        outputs.append(weights @ v[..., part])
    expected = attn.out(torch.cat(outputs, dim=-1))
    torch.testing.assert_close(attn(queries, context), expected)
    assert attn.q.bias is None and attn.k.bias is None and attn.v.bias is None and attn.out.bias is not None


def test_init_zeroes_the_mlp_biases_and_keeps_pytorchs_default_for_the_attention_output_bias():
    """As the authors' code: nn.Linear's default bias U(-1/sqrt(D), 1/sqrt(D)) on the cross-attention output."""
    torch.manual_seed(0)
    rmp = ResidualMaskPredictor(64, 10, 2)
    assert torch.equal(rmp.mlp.fc.bias, torch.zeros(10)) and torch.equal(rmp.mlp.proj.bias, torch.zeros(10))
    out_bias = rmp.cross_attn.out.bias
    assert out_bias.abs().max() <= 1 / math.sqrt(64) and out_bias.abs().min() > 0
    assert out_bias.std() > 0.5 / math.sqrt(3 * 64)  # uniform on ±1/8 has std 0.072; zero would fail
