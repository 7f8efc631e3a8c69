"""Parameter counts of ViT-B-16 (random init) at 256x128 with 751 identities (paper Table 13)."""

import pytest

from reid.model.muva import build_muva
from reid.model.parameters import count_parameters
from tests.kit.params import muva

RMP_LAYER = 2_479_616


@pytest.mark.parametrize(
    ("parts", "training_m", "inference_m", "training", "inference"),
    [
        # inference: ViT at 16x8 (86,140,416) + local tokens + 12 RMP layers + BNNeck affine;
        # training adds classifier, prompts and CLIP's text tower without its token table.
        (("head", "upper", "legs"), 161.7, 115.9, 161_723_648, 115_902_208),
        ((), 126.2, 86.1, 126_195_200, 86_141_440),  # "w/o AM-MSA": global only
    ],
)
def test_counts_match_table_13(parts, training_m, inference_m, training, inference):
    model = build_muva(muva(751, backbone="ViT-B-16", image_size=[256, 128], parts=list(parts)))
    counts = count_parameters(model)
    assert abs(counts["training"] / 1e6 - training_m) < 0.1
    assert abs(counts["inference"] / 1e6 - inference_m) < 0.1
    assert counts == {"training": training, "inference": inference}
    if parts:
        assert sum(p.numel() for p in model.image.encoder.rmp.parameters()) == 12 * RMP_LAYER
