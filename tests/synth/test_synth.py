"""The synthetic benchmark: determinism, exact layouts and counts, GT boxes, protocol facts,
and that a hand-crafted baseline finds it learnable, part-sensitive and domain-shifted."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.synth.baseline import (
    chance_map,
    domain_features,
    fit_lda,
    market_eval,
    retrieval,
)
from reid.synth.generate import generate_benchmark
from reid.synth.identities import random_identity, sample_identities
from reid.synth.person import PARTS, draw_person, sample_pose
from reid.synth.styles import DOMAIN_STYLES, WARDROBES
from reid.utils.images import probe_image
from tests.kit.params import section
from tests.kit.strategies import seeds

SMALL = section("synth", seed=7, train_ids=6, test_ids=4, images_per_id=3, queries_per_id=[1, 2], distractors=3, junk=2)
FOLDERS = {"MA": "Market-1501-v15.09.15", "D": "DukeMTMC-reID", "MS": "MSMT17_V1", "C3": "cuhk03-np"}
# SPEC §2 file names, written out independently of the generator
NAME_RE = {
    "MA": re.compile(r"^(-1|\d{4})_c([1-6])s[1-6]_\d{6}_\d{2}\.jpg$"),
    "D": re.compile(r"^(\d{4})_c([1-8])_f\d{7}\.jpg$"),
    "MS": re.compile(r"^(\d{4})_\d{3}_(\d{2})_\d{4}(?:morning|noon|afternoon)_\d{4}_\d\.jpg$"),
    "C3": re.compile(r"^(\d{4})_c([12])_\d+\.png$"),
}
SPLIT_DIRS = {
    "MA": {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"},
    "D": {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"},
    "C3": {"train": "detected/bounding_box_train", "query": "detected/query", "gallery": "detected/bounding_box_test"},
}
MS_LISTS = {"train": ("list_train.txt", "list_val.txt"), "query": ("list_query.txt",), "gallery": ("list_gallery.txt",)}
MS_BASE = {"train": "train", "query": "test", "gallery": "test"}


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def _records(root: Path, key: str) -> dict[str, list[tuple[str, int, int]]]:
    """{split: [(relpath, pid, cam)]} parsed with the SPEC regexes (MSMT17 through its lists)."""
    ds = root / FOLDERS[key]
    out: dict[str, list[tuple[str, int, int]]] = {}
    for split in ("train", "query", "gallery"):
        recs = []
        if key == "MS":
            for name in MS_LISTS[split]:
                for line in (ds / name).read_text().splitlines():
                    rel, label = line.split(" ")
                    m = NAME_RE["MS"].match(Path(rel).name)
                    assert m and rel.split("/")[0] == m.group(1), line
                    recs.append((f"{MS_BASE[split]}/{rel}", int(label), int(m.group(2))))
        else:
            for p in sorted((ds / SPLIT_DIRS[key][split]).iterdir()):
                m = NAME_RE[key].match(p.name)
                assert m, p
                recs.append((f"{SPLIT_DIRS[key][split]}/{p.name}", int(m.group(1)), int(m.group(2))))
        out[split] = recs
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synth") / "demo"
    return root, generate_benchmark(root, SMALL, workers=2)


def test_same_seed_gives_byte_identical_files_whatever_the_worker_count(small, tmp_path):
    root, _ = small
    again = tmp_path / "again"
    generate_benchmark(again, section("synth", seed=1, train_ids=3, test_ids=2), ("MA", "C3"), workers=1)
    generate_benchmark(again, SMALL, workers=1)  # replaces the earlier output entirely
    first, second = _hashes(root), _hashes(again)
    assert len(first) > 150
    assert first == second


def test_different_seed_gives_different_images(small, tmp_path):
    root, _ = small
    other = tmp_path / "other"
    generate_benchmark(other, SMALL.model_copy(update={"seed": 8}), workers=2)
    images = lambda h: {v for k, v in h.items() if k.endswith((".jpg", ".png"))}  # noqa: E731
    assert images(_hashes(root)).isdisjoint(images(_hashes(other)))


def test_every_file_follows_its_layout_and_counts_match_the_markers(small):
    root, returned = small
    top = json.loads((root / "SYNTHETIC.json").read_text())
    assert top["synthetic"] is True and top["generator"] == "reid.synth" and top["seed"] == 7
    assert list(top["datasets"]) == ["MA", "D", "MS", "C3"]
    for key, folder in FOLDERS.items():
        ds = root / folder
        recs = _records(root, key)
        images_on_disk = {p.relative_to(ds).as_posix() for p in ds.rglob("*") if p.suffix in (".jpg", ".png")}
        listed = [r[0] for split in recs.values() for r in split]
        assert sorted(listed) == sorted(images_on_disk)  # nothing unlisted, nothing listed twice
        counts = {
            split: {
                "ids": len({pid for _, pid, _ in rs if pid != -1}),
                "images": sum(pid != -1 for _, pid, _ in rs),
                "cams": len({cam for _, pid, cam in rs if pid != -1}),
            }
            for split, rs in recs.items()
        }
        marker = json.loads((ds / "SYNTHETIC.json").read_text())
        assert marker == {"synthetic": True, "generator": "reid.synth", "seed": 7, "dataset": key, "counts": counts}
        assert top["datasets"][key]["counts"] == counts == returned[key]
        extra = 1 if key == "MA" else 0  # pid 0 distractors count as one gallery id
        assert counts["train"]["ids"] == 6 and counts["train"]["images"] == 18
        assert counts["query"]["ids"] == 4 and counts["gallery"]["ids"] == 4 + extra
        assert 4 <= counts["query"]["images"] <= 8
        assert 16 + 3 * extra <= counts["gallery"]["images"] <= 24 + 3 * extra


def test_market_gallery_holds_the_junk_and_distractors(small):
    root, _ = small
    recs = _records(root, "MA")
    gallery = Counter(pid for _, pid, _ in recs["gallery"])
    assert gallery[-1] == 2 and gallery[0] == 3
    assert all(pid > 0 for split in ("train", "query") for _, pid, _ in recs[split])


def test_train_and_test_identities_are_disjoint_and_msmt_restarts_pids(small):
    root, _ = small
    for key in FOLDERS:
        recs = _records(root, key)
        train = {pid for _, pid, _ in recs["train"]}
        test = {pid for _, pid, _ in recs["query"] + recs["gallery"] if pid > 0 or key == "MS"}
        if key == "MS":
            assert train == set(range(6)) and test == set(range(4))
        else:
            assert train.isdisjoint(test) and min(train | test) >= 1


def test_msmt_lists_point_at_existing_files_and_keep_a_val_image_per_id(small):
    root, _ = small
    ds = root / "MSMT17_V1"
    val = [line.split() for line in (ds / "list_val.txt").read_text().splitlines()]
    train = [line.split() for line in (ds / "list_train.txt").read_text().splitlines()]
    assert Counter(label for _, label in val) == {str(pid): SMALL.val_per_id for pid in range(6)}
    assert len(train) == 6 * (3 - SMALL.val_per_id)
    for split, names in MS_LISTS.items():
        for name in names:
            for line in (ds / name).read_text().splitlines():
                rel, label = line.split(" ")
                assert (ds / MS_BASE[split] / rel).is_file()
                assert int(rel.split("/")[0]) == int(label)


def test_every_test_identity_is_seen_in_two_cameras_with_a_cross_camera_match(small):
    root, _ = small
    for key in FOLDERS:
        recs = _records(root, key)
        cams = defaultdict(set)
        for _, pid, cam in recs["query"] + recs["gallery"]:
            cams[pid].add(cam)
        query_cams = defaultdict(set)
        for _, pid, cam in recs["query"]:
            query_cams[pid].add(cam)
        for pid, qc in query_cams.items():
            assert len(qc) == 1 and len(cams[pid]) >= 2
            assert any(p == pid and c not in qc for _, p, c in recs["gallery"])


def test_gt_boxes_cover_every_person_image_inside_it_head_above_upper_above_legs(small):
    root, _ = small
    for key, folder in FOLDERS.items():
        ds = root / folder
        gt = pl.read_parquet(ds / "gt_boxes.parquet")
        assert gt.schema == pl.Schema({
            "image_id": pl.String, "part": pl.String, "x0": pl.Float64, "y0": pl.Float64,
            "x1": pl.Float64, "y1": pl.Float64, "width": pl.Int64, "height": pl.Int64,
        })
        persons = {f"{key}/{rel}" for split in _records(root, key).values() for rel, pid, _ in split if pid != -1}
        assert set(gt["image_id"]) == persons  # junk has no boxes
        for image_id, group in gt.group_by("image_id"):
            rows = {r["part"]: r for r in group.iter_rows(named=True)}
            assert sorted(rows) == sorted(PARTS)
            info = probe_image(ds / image_id[0].split("/", 1)[1])
            for r in rows.values():
                assert (r["width"], r["height"]) == (info.width, info.height)
                assert 0 <= r["x0"] < r["x1"] <= r["width"] and 0 <= r["y0"] < r["y1"] <= r["height"]
            centre = {p: (rows[p]["y0"] + rows[p]["y1"]) / 2 for p in PARTS}
            assert centre["head"] < centre["upper"] < centre["legs"]


def test_crop_sizes_follow_the_real_datasets(small):
    root, _ = small
    sizes = {key: set(pl.read_parquet(root / f / "gt_boxes.parquet").select("width", "height").rows())
             for key, f in FOLDERS.items()}
    assert sizes["MA"] == {(64, 128)}  # Market resizes every crop to 128x64
    assert all(len(sizes[k]) > 1 for k in ("D", "MS", "C3"))  # detector boxes vary


@settings(max_examples=60, deadline=None)
@given(seed=seeds, distractor=st.booleans())
def test_drawn_part_boxes_are_ordered_and_inside_for_any_pose(seed, distractor):
    rng = np.random.default_rng(seed)
    ident = random_identity(rng, WARDROBES[("MA", "D", "MS", "C3")[seed % 4]])
    pose = sample_pose(rng, (0.4, 0.3, 0.3), **({"scale": (0.7, 1.05), "shift": 0.15} if distractor else {}))
    canvas = np.zeros((256, 128, 3), np.uint8)
    boxes = draw_person(canvas, ident, pose)
    for x0, y0, x1, y1 in boxes.values():
        assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 256
    assert (boxes["head"][1] + boxes["head"][3]) < (boxes["upper"][1] + boxes["upper"][3]) \
        < (boxes["legs"][1] + boxes["legs"][3])
    assert canvas.any()


def test_identities_are_unique_and_families_swap_top_and_bottom_colours():
    ids = sample_identities(np.random.default_rng(0), 300, WARDROBES["MA"])
    assert len(set(ids)) == 300
    assert max(Counter(i.shirt for i in ids).values()) >= 30  # many share a shirt colour
    # even in a small pool, almost everyone has a look-alike with top and bottom colours swapped
    few = sample_identities(np.random.default_rng(1), 30, WARDROBES["D"])
    pairs = {(i.shirt, i.legs) for i in few}
    assert sum((i.legs, i.shirt) in pairs for i in few) >= 27


def test_family_members_have_heads_of_their_own():
    """Look-alikes (the same two colours, swapped) never share a hair colour: the head tells them apart."""
    for key, wardrobe in WARDROBES.items():
        ids = sample_identities(np.random.default_rng(2), 200, wardrobe)
        families = [(a, b) for a, b in zip(ids, ids[1:]) if (a.shirt, a.legs) == (b.legs, b.shirt)]  # consecutive swaps
        assert len(families) >= 60, key
        assert all(a.hair != b.hair for a, b in families), key


def test_domains_have_their_real_camera_counts():
    assert {k: s.n_cams for k, s in DOMAIN_STYLES.items()} == {"MA": 6, "D": 8, "MS": 15, "C3": 2}


def test_market_eval_drops_same_camera_matches_and_skips_unmatched_queries():
    # gallery: pid 1 cam 1 (same cam as query: dropped), pid 2, pid 1 cam 2
    dist = np.array([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    res = market_eval(dist, np.array([1, 3]), np.array([1, 1]), np.array([1, 2, 1]), np.array([1, 2, 2]))
    assert res["queries"] == 1  # pid 3 has no match
    assert res["mAP"] == pytest.approx(0.5) and res["rank1"] == 0.0 and res["rank5"] == 1.0


def test_invalid_config_and_real_data_are_refused(tmp_path):
    with pytest.raises(ValueError, match="images_per_id"):
        section("synth", images_per_id=1)
    with pytest.raises(ValueError, match="domains"):
        generate_benchmark(tmp_path, section("synth"), ("MA", "XX"))
    (tmp_path / "Market-1501-v15.09.15").mkdir()
    with pytest.raises(FileExistsError, match="real dataset"):
        generate_benchmark(tmp_path, section("synth"), ("MA",))


def test_baseline_finds_parts_beat_whole_and_a_domain_gap(tmp_path):
    config, domains = section("synth", seed=3, train_ids=40, test_ids=40, images_per_id=4, queries_per_id=[1, 2],
                              distractors=0, junk=0), ("MA", "D")
    generate_benchmark(tmp_path, config, domains)
    feats = {k: domain_features(tmp_path, k) for k in domains}
    for key in domains:
        q, g = feats[key]["query"], feats[key]["gallery"]
        chance = chance_map(q, g)
        whole, parts = retrieval(q, g, "whole")["mAP"], retrieval(q, g, "parts")["mAP"]
        assert parts > 8 * chance and parts > 0.45
        assert parts > whole + 0.3
        assert parts > retrieval(q, g, "body")["mAP"] + 0.15  # part structure, not just less background
    metric = {k: fit_lda(feats[k]["train"].parts, feats[k]["train"].pids) for k in domains}
    for target, other in (("MA", "D"), ("D", "MA")):
        q, g = feats[target]["query"], feats[target]["gallery"]
        within = retrieval(q, g, "parts", metric[target])["mAP"]
        across = retrieval(q, g, "parts", metric[other])["mAP"]
        assert within > across + 0.1
