"""Parameter counts of ViT-B-16 (random init) at 256x128 with 751 identities (paper Table 13), and the peers'."""

import pytest

from reid.model.factory import build_model
from reid.model.muva import build_muva
from reid.model.parameters import count_parameters
from tests.kit.params import muva, peer

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


@pytest.mark.parametrize(
    ("method", "image_size", "classes", "training", "inference"),
    [
        # CLIP-FGDI at its 224x224: ViT (86,192,640) + two BNNecks; training adds two classifiers, the identity
        # tokens, one domain token, two domain classifiers and the text tower (their Model's modules).
        ("clip_fgdi", [224, 224], 751, 126_958_338, 86_195_200),
        # Table 13's 129.5 M is this code with 1,501 identities (all of Market's, train + test), not 751
        ("clip_fgdi", [224, 224], 1501, 129_454_338, 86_195_200),
        ("clip_reid", [256, 128], 751, 126_773_504, 86_142_976),  # from its code: no domain parts
    ],
)
def test_peer_counts_from_their_code(method, image_size, classes, training, inference):
    model = build_model(peer(classes, method, backbone="ViT-B-16", image_size=image_size))
    assert count_parameters(model) == {"training": training, "inference": inference}


def test_clip_fgdi_matches_table_13_at_86_2_m_inference_and_129_5_m_training_with_all_market_identities():
    counts = count_parameters(build_model(peer(1501, "clip_fgdi", backbone="ViT-B-16", image_size=[224, 224])))
    assert (round(counts["training"] / 1e6, 1), round(counts["inference"] / 1e6, 1)) == (129.5, 86.2)
