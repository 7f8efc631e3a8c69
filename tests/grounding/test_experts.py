"""Each expert's output shape and status on small images."""

from pathlib import Path

import numpy as np
import pytest

from reid.grounding.experts import build_expert
from reid.grounding.experts.base import GroundItem
from reid.grounding.experts.pose import keypoint_boxes
from reid.grounding.parts import PARTS, PROMPTS
from tests.grounding.helpers import GT, VTEST, H, W, grounding, make_dataset, pedestrian_crops


def items_of(frame, rgb=None):
    return [GroundItem(r["image_id"], r["dataset"], str(Path(r["path"][: -len(r["relpath"])])), r["width"],
                       r["height"], rgb) for r in frame.iter_rows(named=True)]


def test_prompts_are_the_spec_ones():
    assert PROMPTS == {
        "head": "Guide me to the location of the head of the person within the image by providing its bounding boxes.",
        "upper": "Guide me to the location of the upper body of the person within the image by providing its bounding boxes.",
        "legs": "Guide me to the location of the legs of the person within the image by providing its bounding boxes.",
    }


def test_stripes_default_thirds_and_custom_windows():
    out = build_expert(grounding("stripes")).ground([GroundItem("MA/x.jpg", "MA", "/d", W, H)] * 2)
    assert len(out) == 2 and set(out[0]) == set(PARTS)
    assert out[0]["upper"].boxes == [(0.0, 1 / 3, 1.0, 2 / 3)] and out[0]["upper"].status == "ok"
    custom = build_expert(grounding(stripes={"windows": {"head": [0, 0.2], "upper": [0.2, 0.55], "legs": [0.55, 1]}}))
    assert custom.ground([GroundItem("MA/x.jpg", "MA", "/d", W, H)])[0]["legs"].boxes == [(0.0, 0.55, 1.0, 1.0)]
    with pytest.raises(ValueError, match="top < bottom"):
        grounding(stripes={"windows": {"head": [0.5, 0.2], "upper": [0.2, 0.55], "legs": [0.55, 1]}})


def test_oracle_exact_without_errors(tmp_path):
    frame = make_dataset(tmp_path, 3)
    out = build_expert(grounding("oracle")).ground(items_of(frame))
    x0, y0, x1, y1 = GT["head"]
    assert out[1]["head"].boxes == [(x0 / W, y0 / H, x1 / W, y1 / H)]
    assert out[1]["head"].raw == "[[312,031,688,219]]"  # 0.3125 → 312 (round half to even)
    assert all(r[p].status == "ok" for r in out for p in PARTS)


def test_oracle_simulated_errors_rates_and_determinism(tmp_path):
    frame = make_dataset(tmp_path, 200)
    expert = build_expert(grounding("oracle", oracle={"whole_rate": 0.1, "split_rate": 0.2, "seed": 3}))
    assert expert.name == "oracle-simulated" and "whole=0.1" in expert.version and "split=0.2" in expert.version
    out = expert.ground(items_of(frame))
    whole = sum(r[p].boxes == [(0.0, 0.0, 1.0, 1.0)] for r in out for p in PARTS)
    split = sum(len(r[p].boxes) == 2 for r in out for p in PARTS)
    assert 40 <= whole <= 80 and 90 <= split <= 150  # 600 parts: expected 60 and 120
    part, tiny = next((p, r[p].boxes) for r in out for p in PARTS if len(r[p].boxes) == 2)
    true_height = (GT[part][3] - GT[part][1]) / H
    assert [b[3] - b[1] for b in tiny] == pytest.approx([0.12 * true_height] * 2)
    again = expert.ground(items_of(frame)[::-1])[::-1]  # order-free: depends on (seed, image_id, part) only
    assert [r["legs"].boxes for r in again] == [r["legs"].boxes for r in out]


def test_oracle_missing_gt_is_no_box_and_missing_file_explains(tmp_path):
    frame = make_dataset(tmp_path, 2)
    item = items_of(frame)[0]
    ghost = GroundItem("MA/ghost.png", "MA", item.dataset_dir, W, H)
    assert build_expert(grounding("oracle")).ground([ghost])[0]["head"].status == "no_box"
    with pytest.raises(FileNotFoundError, match="synthetic benchmark"):
        build_expert(grounding("oracle")).ground([GroundItem("MA/x.png", "MA", str(tmp_path / "nowhere"), W, H)])


def test_keypoint_boxes_geometry():
    """A standing figure 100 px tall in pixel coordinates: parts stack head / upper / legs."""
    xy = np.zeros((33, 2))
    xy[0:11] = [[50, 10]] * 11
    xy[7], xy[8] = [44, 10], [56, 10]  # ears 12 px apart
    xy[11], xy[12] = [40, 20], [60, 20]  # shoulders
    xy[13:23] = [[38, 35]] * 10
    xy[23], xy[24] = [44, 50], [56, 50]  # hips
    xy[25:33] = [[45, 75], [55, 75], [45, 95], [55, 95], [45, 98], [55, 98], [45, 100], [55, 100]]
    vis = np.ones(33, bool)
    boxes = keypoint_boxes(xy, vis, pad=0.0)
    assert boxes["head"] == pytest.approx((50 - 0.6 * 12, 10 - 0.8 * 12, 50 + 0.6 * 12, 10 + 0.6 * 12))
    assert boxes["upper"] == pytest.approx((38, 20, 60, 50))
    assert boxes["legs"] == pytest.approx((44, 50, 56, 100))
    vis[23:33] = False  # no hips, no legs: upper falls back to both shoulders, legs absent
    boxes = keypoint_boxes(xy, vis, pad=0.0)
    assert boxes["legs"] is None and boxes["upper"] == pytest.approx((38, 20, 60, 35))


def test_pose_on_real_pedestrians():
    pytest.importorskip("mediapipe", reason="pose expert needs the [pose] extra (mediapipe 0.10.14)")
    if not VTEST.is_file():
        pytest.skip(f"{VTEST} missing: apt-get install opencv-doc")
    crops = pedestrian_crops(5)
    assert len(crops) == 5
    expert = build_expert(grounding("pose"))
    out = expert.ground([GroundItem(f"V/{i}", "V", "/", c.shape[1], c.shape[0], c) for i, c in enumerate(crops)])
    for result in out:
        assert all(result[p].status == "ok" for p in PARTS)
        head, upper, legs = (result[p].boxes[0] for p in PARTS)
        centre = [(b[1] + b[3]) / 2 for b in (head, upper, legs)]
        assert centre[0] < 0.3 and 0.25 < centre[1] < 0.6 and centre[2] > 0.55  # stacked top to bottom
        assert head[3] - head[1] < 0.3 and legs[3] - legs[1] > 0.3
    blank = np.full((128, 64, 3), 128, np.uint8)
    empty = expert.ground([GroundItem("V/blank", "V", "/", 64, 128, blank)])[0]
    assert {r.status for r in empty.values()} == {"no_box"} and empty["head"].message == "no person detected"
