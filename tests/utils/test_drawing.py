"""The drawing kit: dashed boxes for replaced ones, seeded sampling of flagged ids."""

from __future__ import annotations

import numpy as np

from reid.utils.drawing import COLOURS, DASH, Mark, draw_marks, sample_ids


def test_replaced_boxes_are_dashed_kept_ones_solid() -> None:
    white = np.full((100, 100, 3), 255, np.uint8)
    solid = draw_marks(white, [Mark("head", [0.1, 0.1, 0.9, 0.9])])
    dashed = draw_marks(white, [Mark("head", [0.1, 0.1, 0.9, 0.9], dashed=True)])
    top = solid[10, 10:90]
    assert (top == COLOURS["head"]).all()
    assert tuple(dashed[10, 10 + DASH // 2]) == COLOURS["head"]  # in the first dash
    assert tuple(dashed[10, 10 + DASH + DASH // 2]) == (255, 255, 255)  # in the first gap
    assert tuple(dashed[10 + DASH // 2, 10]) == COLOURS["head"]  # the left edge is dashed too


def test_sampling_prefers_flagged_ids_up_to_their_share() -> None:
    flagged, others = [f"f{i}" for i in range(10)], [f"o{i}" for i in range(10)]
    picked = sample_ids(flagged, others, 8, 0.75, seed=1)
    assert len(picked) == 8 and sum(i.startswith("f") for i in picked) == 6 and picked == sorted(picked)
    assert picked == sample_ids(flagged, others, 8, 0.75, seed=1)  # seeded
    assert sum(i.startswith("f") for i in sample_ids(flagged[:2], others, 8, 0.75)) == 2  # others fill in
    assert sum(i.startswith("f") for i in sample_ids(flagged, others[:1], 8, 0.5)) == 7  # and flagged ones
    assert sample_ids(flagged[:1], others[:2], 8, 0.5) == ["f0", "o0", "o1"]
