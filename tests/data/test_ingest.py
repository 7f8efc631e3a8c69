"""Ingestion of every layout: exact counts, relabelling, cameras, quarantine, errors."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import polars as pl
import pytest

from reid.data.ingest import (
    available_datasets,
    ingest_dataset,
    ingest_many,
    probe_many,
)
from reid.data.manifest import write_manifests
from reid.data.readers import DatasetNotFoundError
from reid.data.summary import CountMismatchWarning, summarize, warn_mismatches
from reid.errors import ConfigError
from tests.kit import datasets as fx


def _split(manifest: pl.DataFrame, split: str) -> pl.DataFrame:
    return manifest.filter(pl.col("split") == split)


def test_market_counts_relabelling_and_quarantine(tmp_path: Path) -> None:
    d = fx.make_market(tmp_path)
    res = ingest_dataset(tmp_path, "MA")
    m = res.manifest
    assert res.layout == "market"
    assert (m.height, _split(m, "train").height, _split(m, "query").height, _split(m, "gallery").height) == (11, 5, 2, 4)
    train = _split(m, "train")
    assert train["pid"].to_list() == [2, 2, 7, 7, 10]
    assert train["label"].to_list() == [0, 0, 1, 1, 2]
    assert train["camid"].to_list() == [0, 1, 2, 2, 5]
    gallery = _split(m, "gallery")
    assert sorted(gallery["pid"].to_list()) == [0, 3, 4, 4]  # distractor kept, junk dropped
    assert set(_split(m, "query")["label"].to_list()) == {-1}
    assert res.junk == 2
    assert dict(res.issues.counts) == {"name_mismatch": 1, "camera_out_of_range": 1}
    assert m["image_id"][0] == "MA/bounding_box_train/0002_c1s1_000451_03.jpg"
    assert m["path"][0] == str(d / "bounding_box_train" / "0002_c1s1_000451_03.jpg")
    assert set(zip(m["width"], m["height"])) == {(64, 128)}
    assert not m["synthetic"].any()
    q = res.quarantine.sort("split")
    assert q["split"].to_list() == ["gallery", "train"]
    assert q["path"].to_list() == [
        str(d / "bounding_box_test" / "0003_c4s1_000095_01.jpg"),
        str(d / "bounding_box_train" / "0010_c5s1_000400_01.jpg"),
    ]
    assert q["reason"].to_list() == ["truncated JPEG (no end-of-image marker)", "zero-byte file"]


def test_duke(tmp_path: Path) -> None:
    fx.make_duke(tmp_path)
    m = ingest_dataset(tmp_path, "D").manifest
    assert _split(m, "train")["label"].to_list() == [0, 0, 1]
    assert _split(m, "train")["camid"].to_list() == [1, 2, 7]
    assert _split(m, "gallery")["pid"].to_list() == [11, 12]


def test_msmt_v1_lists(tmp_path: Path) -> None:
    fx.make_msmt_v1(tmp_path)
    res = ingest_dataset(tmp_path, "MS")
    m = res.manifest
    assert res.layout == "v1-lists"
    train = _split(m, "train")
    # list_train first (2 usable lines), then list_val (1 new line, 1 duplicate)
    assert train["relpath"].to_list() == [
        "train/0000/0000_000_01_0303morning_0015_0.jpg",
        "train/0001/0001_000_15_0303afternoon_0001_0.jpg",
        "train/0000/0000_001_02_0303noon_0016_0.jpg",
    ]
    assert train["label"].to_list() == [0, 1, 0]
    assert train["camid"].to_list() == [0, 14, 1]
    assert _split(m, "query")["camid"].to_list() == [3]
    assert _split(m, "gallery")["pid"].to_list() == [0, 1]
    assert _split(m, "gallery")["camid"].to_list() == [4, 3]
    assert dict(res.issues.counts) == {"listed_file_missing": 1, "malformed_list_line": 1, "duplicate_entry": 1}
    assert res.issues.examples["listed_file_missing"] == [
        "list_train.txt:3: train/0001/0001_009_03_0303noon_0001_0.jpg"
    ]


def test_msmt_repacked_market_style(tmp_path: Path) -> None:
    fx.make_msmt_market_style(tmp_path)
    res = ingest_dataset(tmp_path, "MS")
    assert res.layout == "market"
    assert _split(res.manifest, "train")["camid"].to_list() == [13, 0]  # sorted names: c14 < c1_
    assert _split(res.manifest, "gallery")["camid"].to_list() == [14]


def test_cuhk03_detected_default_and_labeled(tmp_path: Path) -> None:
    fx.make_cuhk03(tmp_path)
    detected = ingest_dataset(tmp_path, "C3")
    labeled = ingest_dataset(tmp_path, "C3", subset="labeled")
    assert detected.layout == "detected" and labeled.layout == "labeled"
    assert _split(detected.manifest, "train").height == 2
    assert _split(labeled.manifest, "train")["label"].to_list() == [0, 0, 1]
    assert detected.manifest["image_id"][0] == "C3/detected/bounding_box_train/0001_c1_1.png"
    with pytest.raises(ConfigError, match=r"data.cuhk03_subset = 'both': not a subset of CUHK03-NP; allowed: detected, labeled"):
        ingest_dataset(tmp_path, "C3", subset="both")


def test_custom_dataset(tmp_path: Path, monkeypatch) -> None:
    fx.make_custom(tmp_path / "datasets")
    monkeypatch.chdir(tmp_path)  # a relative folder is relative to the working directory (the repository), not data.root
    res = ingest_dataset(tmp_path / "elsewhere", "CAM", custom={"CAM": "datasets/mycams"})
    m = res.manifest
    assert m["image_id"].to_list() == ["CAM/a.jpg", "CAM/sub/b.jpg", "CAM/c.jpg", "CAM/q.jpg", "CAM/g.jpg"]
    assert _split(m, "train")["label"].to_list() == [0, 0, 1]
    assert m["camid"].to_list() == [0, 1, 0, 0, 1]
    assert dict(res.issues.counts) == {"listed_file_missing": 1}


def test_custom_dataset_missing_column(tmp_path: Path) -> None:
    d = fx.make_custom(tmp_path)
    (d / "listing.csv").write_text("path,pid,split\na.jpg,1,train\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) camid"):
        ingest_dataset(tmp_path, "CAM", custom={"CAM": str(tmp_path / "mycams")})


def test_custom_key_may_not_shadow_a_benchmark(tmp_path: Path) -> None:
    fx.make_custom(tmp_path)
    with pytest.raises(ConfigError, match="data.custom.MA: is not a usable dataset key; .*differ from MA, D, MS, C3"):
        ingest_many(tmp_path, "auto", custom={"MA": "mycams"})


def test_folder_name_variants_and_nesting(tmp_path: Path) -> None:
    fx.make_market(tmp_path / "market1501", folder="Market-1501-v15.09.15")
    fx.make_duke(tmp_path)
    assert available_datasets(tmp_path) == ["MA", "D"]
    assert ingest_dataset(tmp_path, "MA").dataset_dir == tmp_path / "market1501" / "Market-1501-v15.09.15"


def test_missing_root_error_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"data root .*nowhere does not exist.*data\.root"):
        ingest_many(tmp_path / "nowhere")


def test_missing_dataset_error_names_path_and_layouts(tmp_path: Path) -> None:
    fx.make_duke(tmp_path)
    with pytest.raises(DatasetNotFoundError) as err:
        ingest_dataset(tmp_path, "MS")
    text = str(err.value)
    assert str(tmp_path) in text and "MSMT17_V1" in text and "list_train.txt" in text and "Fix:" in text


def test_unknown_key_lists_valid_keys(tmp_path: Path) -> None:
    fx.make_duke(tmp_path)
    with pytest.raises(KeyError, match="valid keys: MA, D, MS, C3"):
        ingest_many(tmp_path, ["XX"])


def test_count_mismatch_is_a_loud_warning(tmp_path: Path) -> None:
    fx.make_duke(tmp_path)
    summary = summarize(ingest_many(tmp_path))
    assert summary["datasets"]["D"]["splits"]["train"] == {"ids": 2, "images": 3, "cams": 3}
    assert "train images: found 3, expected 16522" in summary["datasets"]["D"]["mismatches"]
    with pytest.warns(CountMismatchWarning, match=r"DukeMTMC-reID \(D\).*train ids: found 2, expected 702"):
        warn_mismatches(summary)


def test_synthetic_marker_flags_rows_and_supplies_expected_counts(tmp_path: Path) -> None:
    d = fx.make_duke(tmp_path)
    counts = {"train": {"ids": 2, "images": 3, "cams": 3}, "query": {"ids": 1, "images": 1, "cams": 1},
              "gallery": {"ids": 2, "images": 2, "cams": 2}}
    (d / "SYNTHETIC.json").write_text(json.dumps({"synthetic": True, "counts": counts}))
    results = ingest_many(tmp_path)
    assert results[0].manifest["synthetic"].all()
    summary = summarize(results)
    assert summary["synthetic"] is True and summary["warnings"] == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_mismatches(summary)


def test_write_manifests_and_quarantine_csv(tmp_path: Path) -> None:
    fx.make_all(tmp_path / "root")
    results = ingest_many(tmp_path / "root")
    write_manifests({r.key: r.manifest for r in results}, [r.quarantine for r in results], tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "C3.parquet", "D.parquet", "MA.parquet", "MS.parquet", "quarantine.csv"
    ]
    assert pl.read_csv(tmp_path / "out" / "quarantine.csv").height == 2
    assert pl.read_parquet(tmp_path / "out" / "MS.parquet").height == 6


def test_parallel_probe_equals_serial(tmp_path: Path) -> None:
    d = fx.make_market(tmp_path)
    paths = sorted(str(p) for p in d.rglob("*") if p.is_file())
    assert probe_many(paths, workers=2, min_parallel=1) == probe_many(paths, workers=1)


def test_manifest_paths_follow_the_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative data.root gives repository-relative paths: a manifest DVC restores from its cache
    into another workspace (a queued experiment's copy) points at that workspace's images."""
    first = tmp_path / "first"
    first.mkdir()
    monkeypatch.chdir(first)
    fx.make_all(Path("datasets"))
    results = ingest_many(Path("datasets"), "auto", workers=1)
    paths = [p for result in results for p in result.manifest["path"].to_list()]
    assert paths and not any(Path(p).is_absolute() for p in paths)
    shutil.copytree(first, tmp_path / "second")
    shutil.rmtree(first / "datasets")
    monkeypatch.chdir(tmp_path / "second")
    assert all(Path(p).is_file() for p in paths)


def test_an_image_redrawn_under_its_name_changes_only_its_manifest_row(tmp_path: Path) -> None:
    """Same name, same size, other pixels (a regenerated demo image): the digest changes, so DVC
    sees a new manifest and re-runs the stages downstream; the other rows keep theirs."""
    d = fx.make_market(tmp_path)
    before = ingest_dataset(tmp_path, "MA", workers=1).manifest
    redrawn = d / "bounding_box_train" / "0007_c3s1_000100_01.jpg"
    fx._img(redrawn, 128, 64, value=200)
    after = ingest_dataset(tmp_path, "MA", workers=1).manifest
    changed = before.join(after, on="image_id", suffix="_after").filter(pl.col("digest") != pl.col("digest_after"))
    assert changed["image_id"].to_list() == ["MA/bounding_box_train/0007_c3s1_000100_01.jpg"]
    assert before.drop("digest").equals(after.drop("digest"))
    assert all(len(x) == 16 for x in after["digest"])
