"""The evaluate step end to end on a tiny synthetic benchmark: metrics equal to the evaluator
called by hand, mask IoU against the true boxes, pictures, the stage entry point, errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from reid.evaluation.bootstrap import average_draws, bootstrap_draws
from reid.evaluation.extract import extract
from reid.evaluation.mask_iou import mask_iou
from reid.evaluation.metrics import evaluate_features
from reid.evaluation.pictures import (
    GAP,
    GREEN,
    HEADER_H,
    ROW_GAP,
    ROW_LABEL_W,
    TILE_H,
    TILE_W,
    choose_queries,
)
from reid.evaluation.run import bootstrap_seed, run_evaluate
from reid.utils.drawing import LEGEND_H, NOTE_H, TITLE_H
from reid.masks.grid import PatchGrid
from reid.masks.voting import vote
from reid.model.checkpoint import load_for_inference, save_checkpoint
from reid.synth.layouts import read_gt_boxes
from reid.utils.images import read_image
from stages.common import main
from tests.evaluation.helpers import demo_encoder, pictures
from tests.kit.params import section

REPO = Path(__file__).resolve().parents[2]
CONFIG = section("evaluation", batch_size=8, max_rank=12, sheet_queries=3, mask_images=2)
PARTS = ("head", "upper", "legs")
TOP = TITLE_H + HEADER_H  # first pixel row of the sheets' tiles


@pytest.fixture(scope="module")
def evaluated(bench, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("evaluated")
    record = run_evaluate(bench.checkpoint, bench.manifests, bench.protocol, out / "metrics.json", *pictures(out / "plots"), CONFIG)
    return out, record


@pytest.fixture(scope="module")
def by_hand(bench) -> dict[str, dict]:
    """Per target: query/gallery rows, features and masks of one extraction, and the evaluator's result."""
    encoder = load_for_inference(bench.checkpoint)
    out = {}
    for target in ("C3", "MA"):
        frame = pl.read_parquet(bench.manifests / f"{target}.parquet")
        query, gallery = frame.filter(pl.col("split") == "query"), frame.filter(pl.col("split") == "gallery")
        ext = extract(encoder, query["path"].to_list() + gallery["path"].to_list(), batch_size=8, device="cpu",
                      with_masks=True)
        n = query.height
        metrics = evaluate_features(ext.features[:n], ext.features[n:], query["pid"].to_numpy(),
                                    gallery["pid"].to_numpy(), query["camid"].to_numpy(), gallery["camid"].to_numpy(),
                                    max_rank=CONFIG.max_rank)
        out[target] = {"query": query, "gallery": gallery, "extraction": ext, "metrics": metrics}
    return out


def test_metrics_file_has_every_target_the_average_and_the_flags(evaluated) -> None:
    out, record = evaluated
    assert json.loads((out / "metrics.json").read_text()) == record
    assert list(record) == ["C3", "MA", "average", "protocol", "synthetic", "method"] and record["method"] == "muva"
    assert record["protocol"] == "MA->C3,MA" and record["synthetic"] is True
    for target in ("C3", "MA"):
        assert set(record[target]) == {"mAP", "rank1", "rank5", "rank10", "mINP", "mAP_ci95", "rank1_ci95", "queries",
                                       "skipped_queries", "gallery", "mask_iou", "rerank", "synthetic"}
        assert record[target]["rerank"] == {"applied": False}
        assert record[target]["synthetic"] is True
    assert record["average"]["targets"] == "C3,MA" and record["average"]["synthetic"] is True
    assert record["average"]["rerank"] == {"applied": False}
    for key in ("mAP", "rank1", "rank5", "rank10", "mINP"):
        assert record["average"][key] == pytest.approx((record["C3"][key] + record["MA"][key]) / 2, abs=0.006)
    for scores in (record["C3"], record["MA"], record["average"]):
        for key in ("mAP", "rank1"):
            assert set(scores[f"{key}_ci95"]) == {"low", "high"}
            assert scores[f"{key}_ci95"]["low"] <= scores[key] <= scores[f"{key}_ci95"]["high"]


def test_numbers_equal_the_evaluator_called_by_hand(evaluated, by_hand) -> None:
    _, record = evaluated
    draws = {}
    for target, hand in by_hand.items():
        m = hand["metrics"]
        draws[target] = bootstrap_draws(m.ap, m.first_hit, hand["query"]["pid"].to_numpy(), seed=bootstrap_seed(target))
        assert record[target] == {
            "mAP": round(100 * m.mAP, 2), "rank1": round(100 * m.rank1, 2), "rank5": round(100 * m.rank5, 2),
            "rank10": round(100 * m.rank10, 2), "mINP": round(100 * m.mINP, 2), **ci_record(draws[target]),
            "queries": m.num_valid, "skipped_queries": m.num_skipped, "gallery": hand["gallery"].height,
            "mask_iou": record[target]["mask_iou"], "rerank": {"applied": False}, "synthetic": True,
        }
    average = ci_record(average_draws(list(draws.values())))
    assert {k: record["average"][k] for k in ("mAP_ci95", "rank1_ci95")} == average
    # the Market look-alike's gallery keeps its pid-0 distractors (junk was dropped at ingest)
    assert (by_hand["MA"]["gallery"]["pid"] == 0).sum() == 2


def ci_record(draws) -> dict[str, dict[str, float]]:
    return {f"{k}_ci95": {"low": round(100 * ci.low, 2), "high": round(100 * ci.high, 2)}
            for k, ci in draws.intervals(0.95).items()}


def test_mask_iou_against_the_true_boxes_voted_onto_the_grid(evaluated, bench, by_hand) -> None:
    _, record = evaluated
    for target, folder in (("C3", "cuhk03-np"), ("MA", "Market-1501-v15.09.15")):
        hand = by_hand[target]
        rows = pl.concat([hand["query"], hand["gallery"]])
        gt = read_gt_boxes(bench.root / "demo" / folder)
        boxes = np.stack([
            rows.select("image_id").join(gt.filter(pl.col("part") == p), on="image_id", how="left")
            .select("x0", "y0", "x1", "y1").to_numpy() for p in PARTS
        ], axis=1)  # [N, 3, 4]
        assert np.isfinite(boxes).all()  # every test image of the synthetic set has its true boxes
        expected = mask_iou(hand["extraction"].part_masks.numpy(), vote(boxes, PatchGrid()), PARTS)
        assert record[target]["mask_iou"] == {k: round(v, 4) for k, v in expected.items()}
    average = record["average"]["mask_iou"]
    assert average["mean"] == pytest.approx((record["C3"]["mask_iou"]["mean"] + record["MA"]["mask_iou"]["mean"]) / 2,
                                            abs=1e-4)


def test_pictures_exist_with_their_layout(evaluated, by_hand) -> None:
    out, _ = evaluated
    plots = out / "plots"
    for target in ("C3", "MA"):
        cmc = pl.read_csv(plots / "cmc" / f"{target}.csv")
        assert cmc["rank"].to_list() == list(range(1, 13))
        np.testing.assert_allclose(cmc["cmc"], np.round(100 * by_hand[target]["metrics"].cmc, 2))
    assert read_image(plots / "cmc.png").ndim == 3
    sheet = read_image(plots / "sheets" / "ranking_MA.png")
    assert sheet.shape == (TOP + 3 * TILE_H + 2 * ROW_GAP + LEGEND_H, ROW_LABEL_W + 11 * TILE_W + GAP, 3)
    masks = read_image(plots / "sheets" / "part_masks.png")  # a row per target of 2 images and their 3 masks
    body = 2 * (GAP + 4 * TILE_W)
    assert masks.shape[0] == TOP + 2 * (TILE_H + NOTE_H) + ROW_GAP + LEGEND_H and masks.shape[1] >= body
    assert (masks[TOP:-LEGEND_H, body:] == 255).all()  # only the title may be wider than the images


def test_ranking_sheet_shows_the_first_true_match_where_the_metrics_rank_it(evaluated, by_hand) -> None:
    out, _ = evaluated
    sheet = read_image(out / "plots" / "sheets" / "ranking_MA.png")
    first_hit = by_hand["MA"]["metrics"].first_hit
    for row, query in enumerate(choose_queries(first_hit, CONFIG.sheet_queries)):
        y = TOP + row * (TILE_H + ROW_GAP)
        corners = [tuple(sheet[y, ROW_LABEL_W + TILE_W + GAP + k * TILE_W]) for k in range(10)]  # frame of rank k+1
        greens = [k for k, c in enumerate(corners) if c == GREEN]
        assert (greens[0] if greens else 10) == min(first_hit[query], 10)


def test_stage_entry_point_with_a_global_only_model(bench, tmp_path, monkeypatch) -> None:
    # the stage's fixed paths, a global-only model (no RMP: no mask IoU, no part-mask figure), one target
    (tmp_path / "models").mkdir()
    save_checkpoint(demo_encoder(parts=()), tmp_path / "models" / "muva.pt")
    (tmp_path / "data" / "protocol").mkdir(parents=True)
    (tmp_path / "data" / "manifests").symlink_to(bench.manifests)
    protocol = {**json.loads(bench.protocol.read_text()), "targets": ["C3"], "name": "MA->C3"}
    (tmp_path / "data" / "protocol" / "protocol.json").write_text(json.dumps(protocol))
    section = {"batch_size": 16, "device": "cpu", "workers": 0, "max_rank": 10, "sheet_queries": 2, "mask_images": 4,
               "bootstrap_draws": 0}
    params = yaml.safe_load((REPO / "params.yaml").read_text())  # the whole tree: the entry point validates it
    params["evaluation"] = {**params["evaluation"], **section}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["evaluate", "--params", "params.yaml"])
    with pytest.raises(SystemExit) as done:  # typer exits 0 after the command
        main("evaluate")
    assert done.value.code in (0, None)
    record = json.loads((tmp_path / "metrics" / "evaluation.json").read_text())
    assert list(record) == ["C3", "average", "protocol", "synthetic", "method"] and "mask_iou" not in record["C3"]
    assert not {"mAP_ci95", "rank1_ci95"} & (set(record["C3"]) | set(record["average"]))  # bootstrap_draws 0
    assert sorted(p.name for p in (tmp_path / "plots" / "evaluation" / "sheets").iterdir()) == ["ranking_C3.png"]


def test_missing_inputs_say_which_stage_to_run(bench, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="dvc repro stage2"):
        run_evaluate(tmp_path / "muva.pt", bench.manifests, bench.protocol, tmp_path / "m.json", *pictures(tmp_path), CONFIG)
    with pytest.raises(FileNotFoundError, match="dvc repro protocol"):
        run_evaluate(bench.checkpoint, bench.manifests, tmp_path / "p.json", tmp_path / "m.json", *pictures(tmp_path), CONFIG)


@pytest.mark.parametrize(("fields", "message"), [
    ({"max_rank": 5}, "max_rank"),
    ({"batch_size": 0}, "batch_size"),
    ({"sheet_queries": -1}, "sheet_queries"),
    ({"bootstrap_draws": -1}, "bootstrap_draws"),
])
def test_config_is_checked(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        section("evaluation", **fields)


def _keys(value) -> list[str]:
    """Every key of a nested JSON value."""
    if isinstance(value, dict):
        return [k for key, v in value.items() for k in (key, *_keys(v))]
    if isinstance(value, list):
        return [k for v in value for k in _keys(v)]
    return []


@pytest.fixture(scope="module")
def mixed(bench, tmp_path_factory) -> dict:
    """MA -> C3, MA with C3 passed off as real data: a protocol mixing a real and a synthetic target."""
    root = tmp_path_factory.mktemp("mixed")
    manifests = root / "manifests"
    manifests.mkdir()
    for path in bench.manifests.glob("*.parquet"):
        frame = pl.read_parquet(path)
        if path.stem == "C3":
            frame = frame.with_columns(pl.lit(False).alias("synthetic"))
        frame.write_parquet(manifests / path.name)
    config = section("evaluation", batch_size=8, max_rank=12, sheet_queries=0, mask_images=0, bootstrap_draws=50)
    return run_evaluate(bench.checkpoint, manifests, bench.protocol, root / "metrics.json", *pictures(root / "plots"), config)


def test_each_target_says_whether_it_is_synthetic_and_no_average_mixes_the_kinds(mixed) -> None:
    assert list(mixed) == ["C3", "MA", "average", "average_synthetic", "protocol", "synthetic", "method"]
    assert mixed["C3"]["synthetic"] is False and mixed["MA"]["synthetic"] is True
    assert mixed["synthetic"] is True  # the training data and one target are synthetic
    real, fake = mixed["average"], mixed["average_synthetic"]
    assert (real["targets"], real["synthetic"], fake["targets"], fake["synthetic"]) == ("C3", False, "MA", True)
    for key in ("mAP", "rank1", "rank5", "rank10", "mINP", "mAP_ci95", "rank1_ci95", "rerank"):
        assert real[key] == mixed["C3"][key] and fake[key] == mixed["MA"][key]  # one target each: its own numbers
    assert "mask_iou" not in mixed["C3"] and "mask_iou" not in real  # no true boxes behind a real target
    assert fake["mask_iou"] == mixed["MA"]["mask_iou"]


def test_no_key_of_the_metrics_file_is_error(evaluated, mixed) -> None:
    # `dvc metrics show` takes a key named "error" for a failed load
    for record in (evaluated[1], mixed):
        assert "error" not in _keys(record)


def test_an_unreadable_input_names_the_stage_that_makes_it(bench, tmp_path) -> None:
    from reid.errors import ArtifactError

    cut = tmp_path / "muva.pt"
    cut.write_bytes(bench.checkpoint.read_bytes()[:1000])
    with pytest.raises(ArtifactError, match=r"muva.pt is unreadable \(.*\): .*stage 'stage2'.*dvc repro stage2"):
        run_evaluate(cut, bench.manifests, bench.protocol, tmp_path / "m.json", *pictures(tmp_path / "plots"), CONFIG)
    bad = tmp_path / "protocol.json"
    bad.write_text('{"targets": ["C3"')
    with pytest.raises(ArtifactError, match=r"protocol.json is unreadable \(.*\): .*dvc repro protocol"):
        run_evaluate(bench.checkpoint, bench.manifests, bad, tmp_path / "m.json", *pictures(tmp_path / "plots"), CONFIG)
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "MA.parquet").write_bytes((bench.manifests / "MA.parquet").read_bytes())
    (manifests / "C3.parquet").write_bytes((bench.manifests / "C3.parquet").read_bytes()[:-100])  # truncated
    with pytest.raises(ArtifactError, match=r"C3.parquet is unreadable \(.*\): .*dvc repro ingest"):
        run_evaluate(bench.checkpoint, manifests, bench.protocol, tmp_path / "m.json", *pictures(tmp_path / "plots"), CONFIG)
    (manifests / "C3.parquet").unlink()
    with pytest.raises(ArtifactError, match=r"C3.parquet is missing .*dvc repro ingest"):
        run_evaluate(bench.checkpoint, manifests, bench.protocol, tmp_path / "m.json", *pictures(tmp_path / "plots"), CONFIG)
