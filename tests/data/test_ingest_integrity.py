"""Inputs with integrity (issue 13): every bad input either stops ingestion with an InputError
that names the file (and line), or is dropped and counted while the good records go through.

One table: each case builds its bad input in a tmp folder with the fixture builders, ingests
it, and states the exact outcome.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest

from reid.data.ingest import ingest_dataset, ingest_many
from reid.data.run import run_ingest
from reid.data.summary import summarize
from reid.errors import ConfigError, InputError, ReidError
from tests.kit import datasets as fx

# make_custom's listing: lines 2-7 (line 7 names a missing file); its five images are 32x16,
# exactly the default minimum size, so they all stay.
CUSTOM_IDS = ["CAM/a.jpg", "CAM/sub/b.jpg", "CAM/c.jpg", "CAM/q.jpg", "CAM/g.jpg"]
CUSTOM = {"CAM": "mycams"}


def _custom(extra_rows: str = "", images: dict[str, tuple[int, int]] | None = None) -> Callable[[Path], Path]:
    """make_custom plus `extra_rows` appended to its listing (from line 8 on) and extra (h, w) images."""
    def build(root: Path) -> Path:
        d = fx.make_custom(root)
        for name, (h, w) in (images or {}).items():
            fx._img(d / name, h, w)
        with open(d / "listing.csv", "a") as fh:
            fh.write(extra_rows)
        return d
    return build


def _custom_listing(text: str) -> Callable[[Path], Path]:
    """make_custom with its listing replaced by `text`."""
    def build(root: Path) -> Path:
        d = fx.make_custom(root)
        (d / "listing.csv").write_text(text)
        return d
    return build


def _outside_paths(root: Path) -> Path:
    fx._img(root / "outside.jpg")
    d = _custom(
        "../outside.jpg,70,0,train\n"            # line 8: escapes with ..
        "sub/../../outside.jpg,70,0,train\n"     # line 9: escapes after normalisation
        f"{root / 'outside.jpg'},70,0,train\n"   # line 10: absolute, outside
        f"{root / 'mycams' / 'x.jpg'},70,0,query\n"  # line 11: absolute but inside: kept as x.jpg
        "sub/../sub/b.jpg,50,1,train\n",         # line 12: inside after normalisation = line 3's path
        images={"x.jpg": (32, 16)},
    )(root)
    return d


def _parquet_listing(root: Path) -> Path:
    d = fx.make_custom(root)
    (d / "listing.csv").unlink()
    pl.DataFrame({
        "path": ["a.jpg", "c.jpg", "a.jpg", "q.jpg", "g.jpg"],
        "pid": [50, 51, 50, 60, 60],
        "camid": [0, 0, 1, 0, 1],
        "split": ["train", "train", "train", "query", "gallery"],
    }).write_parquet(d / "listing.parquet")
    return d


def _parquet_float_pid(root: Path) -> Path:
    d = fx.make_custom(root)
    (d / "listing.csv").unlink()
    pl.DataFrame({"path": ["a.jpg", "c.jpg"], "pid": [50.0, 51.5], "camid": [0, 0], "split": ["train", "train"]}
                 ).write_parquet(d / "listing.parquet")
    return d


def _market_with_small(root: Path) -> Path:
    d = fx.make_market(root)
    fx._img(d / "bounding_box_train" / "0002_c1s1_000999_01.jpg", h=30, w=64)   # too low
    fx._img(d / "bounding_box_test" / "0004_c2s1_000999_01.jpg", h=128, w=15)   # too narrow
    fx._img(d / "query" / "0003_c2s1_000999_01.jpg", h=32, w=16)                # at the minimum: kept
    return d


def _two_markets(root: Path) -> Path:
    fx.make_market(root)
    return fx.make_market(root, folder="Market-1501")


def _market_symlink_alias(root: Path) -> Path:
    d = fx.make_market(root)
    os.symlink(d, root / "Market1501")
    return d


def _market_with_empty_leftover(root: Path) -> Path:
    (root / "market1501").mkdir(parents=True)
    return fx.make_market(root)


def _empty_market(root: Path) -> Path:
    (root / "Market-1501").mkdir(parents=True)
    fx.make_duke(root)
    return root / "Market-1501"


def _market_zip_only(root: Path) -> Path:
    (root / "Market-1501").mkdir(parents=True)
    (root / "Market-1501" / "Market-1501-v15.09.15.zip").write_bytes(b"PK")
    return root / "Market-1501"


def _market_no_images(root: Path) -> Path:
    d = root / "Market-1501-v15.09.15"
    for split in ("bounding_box_train", "query", "bounding_box_test"):
        (d / split).mkdir(parents=True)
    return d


def _market_all_broken(root: Path) -> Path:
    d = root / "Market-1501-v15.09.15"
    for split, name in (("bounding_box_train", "0002_c1s1_000451_03.jpg"), ("query", "0003_c1s1_000010_00.jpg"),
                        ("bounding_box_test", "0003_c2s1_000030_01.jpg")):
        (d / split).mkdir(parents=True)
        (d / split / name).write_bytes(b"")
    return d


def _custom_empty_folder(root: Path) -> Path:
    (root / "mycams").mkdir(parents=True)
    return root / "mycams"


def _custom_no_listing(root: Path) -> Path:
    d = fx.make_custom(root)
    (d / "listing.csv").unlink()
    return d


def _custom_two_listings(root: Path) -> Path:
    d = fx.make_custom(root)
    (d / "old.csv").write_text((d / "listing.csv").read_text())
    return d


@dataclass
class Case:
    id: str
    build: Callable[[Path], Path]
    keys: list[str] = field(default_factory=lambda: ["CAM"])
    custom: dict[str, str] = field(default_factory=lambda: dict(CUSTOM))
    # refused: the exception and the words its message must contain ({root} = the tmp root)
    error: type[Exception] | None = None
    words: tuple[str, ...] = ()
    # counted: exact summary numbers of keys[0] and the images that still go through
    issues: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    quarantined: int = 0
    too_small: int = 0
    images: tuple[int, int, int] | None = None  # train, query, gallery
    ids: list[str] | None = None


CASES = [
    # --- custom listings: bad rows dropped and counted, the rest ingested ---
    Case("custom-duplicate-rows", _custom("a.jpg,50,0,train\n./sub/b.jpg,50,1,query\nq.jpg,99,0,gallery\n"),
         issues={"listed_file_missing": 1, "duplicate_entry": 3},
         examples={"duplicate_entry": ["listing.csv:8: a.jpg already listed at listing.csv:2",
                                       "listing.csv:9: sub/b.jpg already listed at listing.csv:3",
                                       "listing.csv:10: q.jpg already listed at listing.csv:5"]},
         images=(3, 1, 1), ids=CUSTOM_IDS),
    Case("custom-unknown-split", _custom("x.jpg,70,0,val\ny.jpg,71,0,Train\n", {"x.jpg": (64, 32), "y.jpg": (64, 32)}),
         issues={"listed_file_missing": 1, "unknown_split": 2},
         examples={"unknown_split": ["listing.csv:8: split 'val' (allowed: train, query, gallery)",
                                     "listing.csv:9: split 'Train' (allowed: train, query, gallery)"]},
         images=(3, 1, 1), ids=CUSTOM_IDS),
    Case("custom-negative-camid", _custom("x.jpg,70,-1,train\n", {"x.jpg": (64, 32)}),
         issues={"listed_file_missing": 1, "camera_out_of_range": 1},
         examples={"camera_out_of_range": ["listing.csv:8: camid -1 (camid is 0-based: >= 0)"]},
         images=(3, 1, 1), ids=CUSTOM_IDS),
    Case("custom-empty-path", _custom(",70,0,train\n"),
         issues={"listed_file_missing": 1, "malformed_list_line": 1},
         examples={"malformed_list_line": ["listing.csv:8: empty path"]},
         images=(3, 1, 1), ids=CUSTOM_IDS),
    Case("custom-paths-outside-the-folder", _outside_paths,
         issues={"listed_file_missing": 1, "path_outside_dataset": 3, "duplicate_entry": 1},
         images=(3, 2, 1), ids=[*CUSTOM_IDS, "CAM/x.jpg"]),
    Case("custom-missing-files", _custom("nothere/z.jpg,70,0,train\n"),
         issues={"listed_file_missing": 2},
         examples={"listed_file_missing": ["listing.csv:7: missing.jpg", "listing.csv:8: nothere/z.jpg"]},
         images=(3, 1, 1), ids=CUSTOM_IDS),
    Case("custom-too-small-images", _custom("low.jpg,70,0,train\nthin.jpg,70,1,gallery\n",
                                            {"low.jpg": (31, 16), "thin.jpg": (64, 15)}),
         issues={"listed_file_missing": 1}, quarantined=2, too_small=2, images=(3, 1, 1), ids=CUSTOM_IDS),
    Case("custom-blank-lines-and-spaces", _custom_listing(  # blank lines still count as lines
        "path, pid, camid, split\n\na.jpg, 50, 0, train\n\nc.jpg,51.0,0,train\nq.jpg,60,0,query\ng.jpg,60,1,tset\n"),
         issues={"unknown_split": 1},
         examples={"unknown_split": ["listing.csv:7: split 'tset' (allowed: train, query, gallery)"]},
         images=(2, 1, 0), ids=["CAM/a.jpg", "CAM/c.jpg", "CAM/q.jpg"]),
    Case("custom-parquet-duplicate", _parquet_listing,
         issues={"duplicate_entry": 1},
         examples={"duplicate_entry": ["listing.parquet:row 3: a.jpg already listed at listing.parquet:row 1"]},
         images=(2, 1, 1), ids=["CAM/a.jpg", "CAM/c.jpg", "CAM/q.jpg", "CAM/g.jpg"]),
    # --- custom listings: format errors refuse the listing, naming file and line ---
    Case("custom-non-integer-pid", _custom("x.jpg,p70,0,train\ny.jpg,71,0,train\nz.jpg,7b,0,query\n"),
         error=InputError, words=("custom dataset 'CAM'", "mycams/listing.csv:8: pid 'p70' is not an integer",
                                  "1 more such value(s), e.g. {root}/mycams/listing.csv:10: pid '7b'",
                                  "must be integers", "Fix")),
    Case("custom-empty-camid", _custom("x.jpg,70,,train\n"),
         error=InputError, words=("listing.csv:8: camid is empty",)),
    Case("custom-parquet-fractional-pid", _parquet_float_pid,
         error=InputError, words=("listing.parquet:row 2: pid 51.5 is not an integer",)),
    Case("custom-missing-column", _custom_listing("path,pid,split\na.jpg,1,train\n"),
         error=InputError, words=("listing.csv lacks column(s) camid", "(it has: path, pid, split)", "Fix")),
    Case("custom-unquoted-comma", _custom("x,y.jpg,70,0,train\n"),
         error=InputError, words=("listing.csv:8: 5 fields where the header has 4", "quote a path")),
    Case("custom-header-only", _custom_listing("path,pid,camid,split\n"),
         error=InputError, words=("listing.csv has a header but no rows",)),
    Case("custom-nothing-usable",  # paths relative to the wrong folder
         _custom_listing("path,pid,camid,split\nimages/a.jpg,1,0,train\nimages/c.jpg,2,0,query\n"),
         error=InputError, words=("CAM at {root}/mycams has no usable image", "no image record read",
                                  "listed_file_missing=2 (e.g. listing.csv:2: images/a.jpg)",
                                  "paths must be relative to {root}/mycams")),
    Case("custom-empty-folder", _custom_empty_folder,
         error=InputError, words=("folder {root}/mycams is empty", "expected a .csv or .parquet listing",
                                  "data.custom.CAM")),
    Case("custom-no-listing", _custom_no_listing,
         error=InputError, words=("{root}/mycams holds no .csv or .parquet listing", "a.jpg, c.jpg", "sub")),
    Case("custom-two-listings", _custom_two_listings,
         error=InputError, words=("exactly one", "found listing.csv, old.csv")),
    # --- every dataset: too-small images quarantined ---
    Case("market-too-small-images", _market_with_small, keys=["MA"], custom={},
         issues={"name_mismatch": 1, "camera_out_of_range": 1}, quarantined=4, too_small=2, images=(5, 3, 4)),
    # --- dataset folders: empty, ambiguous ---
    Case("market-two-folders", _two_markets, keys=["MA"], custom={},
         error=InputError, words=("Market-1501 (MA): 2 folders under {root} hold it",
                                  "{root}/Market-1501-v15.09.15 (market, 8 files in bounding_box_train/)",
                                  "{root}/Market-1501 (market, 8 files in bounding_box_train/)",
                                  "delete, or move out of {root}, every copy but the one to use")),
    Case("market-two-folders-auto", _two_markets, keys="auto", custom={},
         error=InputError, words=("2 folders under {root} hold it",)),
    Case("market-symlink-alias-is-one-folder", _market_symlink_alias, keys=["MA"], custom={},
         issues={"name_mismatch": 1, "camera_out_of_range": 1}, quarantined=2, images=(5, 2, 4)),
    Case("market-empty-leftover-beside-the-real-one", _market_with_empty_leftover, keys="auto", custom={},
         issues={"name_mismatch": 1, "camera_out_of_range": 1}, quarantined=2, images=(5, 2, 4)),
    Case("market-empty-folder", _empty_market, keys=["MA"], custom={},
         error=InputError, words=("Market-1501 (MA): folder {root}/Market-1501 is empty",
                                  "bounding_box_train", "Fix: unpack Market-1501 into {root}/Market-1501")),
    Case("market-empty-folder-auto", _empty_market, keys="auto", custom={},
         error=InputError, words=("folder {root}/Market-1501 is empty", "data.datasets")),
    Case("market-folder-with-archive-only", _market_zip_only, keys=["MA"], custom={},
         error=InputError,
         words=("{root}/Market-1501 holds none of its layouts (it contains: Market-1501-v15.09.15.zip)",)),
    Case("market-split-folders-without-images", _market_no_images, keys=["MA"], custom={},
         error=InputError, words=("Market-1501 (MA) at {root}/Market-1501-v15.09.15 holds no images",
                                  "expected market: folders")),
    Case("market-every-image-broken", _market_all_broken, keys=["MA"], custom={},
         error=InputError, words=("has no usable image: 3 image record(s) read",
                                  "3 quarantined (zero-byte file: 3)")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_ingest_integrity(case: Case, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    case.build(root)
    custom = {key: str(root / folder) for key, folder in case.custom.items()}
    if case.error is not None:
        with pytest.raises(case.error) as err:
            ingest_many(root, case.keys, custom=custom, workers=1)
        assert isinstance(err.value, ReidError)  # the stage prints it as one line, exit 2
        message = str(err.value)
        assert "\n" not in message
        for words in case.words:
            assert words.format(root=root) in message, f"{words.format(root=root)!r} not in {message!r}"
        return
    results = ingest_many(root, case.keys, custom=custom, workers=1)
    key = results[0].key
    info = summarize(results)["datasets"][key]
    assert info["issues"] == case.issues
    for kind, examples in case.examples.items():
        assert info["issue_examples"][kind] == examples
    assert info["quarantined"] == case.quarantined
    assert info["quarantined_too_small"] == case.too_small
    assert tuple(info["splits"][s]["images"] for s in ("train", "query", "gallery")) == case.images
    if case.ids is not None:
        assert results[0].manifest["image_id"].to_list() == case.ids


def test_custom_paths_outside_examples_and_normalised_ids(tmp_path: Path) -> None:
    _outside_paths(tmp_path)
    res = ingest_dataset(tmp_path, "CAM", custom={"CAM": str(tmp_path / "mycams")}, workers=1)
    d = tmp_path / "mycams"
    assert res.issues.examples["path_outside_dataset"] == [
        f"listing.csv:8: ../outside.jpg is outside {d}",
        f"listing.csv:9: sub/../../outside.jpg is outside {d}",
        f"listing.csv:10: {tmp_path / 'outside.jpg'} is outside {d}",
    ]
    assert res.issues.examples["duplicate_entry"] == ["listing.csv:12: sub/b.jpg already listed at listing.csv:3"]
    x = res.manifest.filter(pl.col("relpath") == "x.jpg")
    assert x["split"].to_list() == ["query"] and x["path"].to_list() == [str(d / "x.jpg")]


def test_too_small_reason_in_quarantine_csv_and_summary_json(tmp_path: Path) -> None:
    d = _market_with_small(tmp_path / "root")
    with pytest.warns(UserWarning):  # fixture counts are far from the official ones
        summary = run_ingest(tmp_path / "root", tmp_path / "out", tmp_path / "out" / "summary.json", ["MA"], workers=1)
    assert summary["datasets"]["MA"]["quarantined"] == 4
    assert summary["datasets"]["MA"]["quarantined_too_small"] == 2
    q = pl.read_csv(tmp_path / "out" / "quarantine.csv").filter(pl.col("reason").str.starts_with("too small"))
    assert q.sort("path").rows() == [
        ("MA", "gallery", str(d / "bounding_box_test" / "0004_c2s1_000999_01.jpg"),
         "too small to hold a person: 15x128 pixels (width x height), minimum 16x32"),
        ("MA", "train", str(d / "bounding_box_train" / "0002_c1s1_000999_01.jpg"),
         "too small to hold a person: 64x30 pixels (width x height), minimum 16x32"),
    ]


def test_min_size_is_a_keyword_argument(tmp_path: Path) -> None:
    _market_with_small(tmp_path)
    keep_all = ingest_dataset(tmp_path, "MA", workers=1, min_height=0, min_width=0)
    assert (keep_all.manifest.height, keep_all.too_small, keep_all.quarantine.height) == (14, 0, 2)
    strict = ingest_dataset(tmp_path, "MA", workers=1, min_height=64, min_width=32)
    assert (strict.manifest.height, strict.too_small) == (11, 3)  # the 32x16 query image goes too
    with pytest.raises(ConfigError, match="min_height = -1: must be a whole number of pixels"):
        ingest_dataset(tmp_path, "MA", min_height=-1)


def test_custom_may_point_at_the_listing_file(tmp_path: Path) -> None:
    fx.make_custom(tmp_path)
    res = ingest_dataset(tmp_path, "CAM", custom={"CAM": str(tmp_path / "mycams" / "listing.csv")}, workers=1)
    assert res.dataset_dir == tmp_path / "mycams"
    assert res.manifest["image_id"].to_list() == CUSTOM_IDS
