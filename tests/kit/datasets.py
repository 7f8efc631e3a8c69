"""Small on-disk datasets in every real layout, with known oddities, for the ingestion, protocol,
params and CLI tests.

Each builder returns the dataset folder; the counts the tests assert are spelled out in
the comments next to the files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reid.utils.images import write_image


def _img(path: Path, h: int = 32, w: int = 16, value: int = 100) -> None:
    rgb = np.full((h, w, 3), value, dtype=np.uint8)
    rgb[: h // 2] = 255 - value
    write_image(path, rgb)


def _files(folder: Path, names: list[str], h: int = 32, w: int = 16) -> None:
    for i, name in enumerate(names):
        _img(folder / name, h, w, value=10 + 7 * i)


def make_market(root: Path, folder: str = "Market-1501-v15.09.15") -> Path:
    """train: 5 usable (ids 2,7,10; cams 1,2,3,6) + 1 zero-byte + 1 off-pattern name + 1 non-image.
    query: 2 (ids 3,4).  gallery: 4 usable (ids 0,3,4), 2 junk, 1 camera 9 (out of range), 1 truncated."""
    d = root / folder
    _files(
        d / "bounding_box_train",
        ["0002_c1s1_000451_03.jpg", "0002_c2s1_000551_01.jpg", "0007_c3s1_000100_01.jpg",
         "0007_c3s1_000200_01.jpg", "0010_c6s2_000300_02.jpg", "badname.jpg"],
        h=128, w=64,
    )
    (d / "bounding_box_train" / "0010_c5s1_000400_01.jpg").write_bytes(b"")
    (d / "bounding_box_train" / "Thumbs.db").write_bytes(b"not an image")
    _files(d / "query", ["0003_c1s1_000010_00.jpg", "0004_c2s1_000020_00.jpg"], h=128, w=64)
    _files(
        d / "bounding_box_test",
        ["0003_c2s1_000030_01.jpg", "0004_c1s1_000040_01.jpg", "0004_c3s1_000050_01.jpg",
         "0000_c1s1_000060_01.jpg", "-1_c1s1_000070_01.jpg", "-1_c2s1_000080_01.jpg",
         "0003_c9s1_000090_01.jpg", "0003_c4s1_000095_01.jpg"],
        h=128, w=64,
    )
    truncated = d / "bounding_box_test" / "0003_c4s1_000095_01.jpg"
    truncated.write_bytes(truncated.read_bytes()[:-40])
    return d


def make_duke(root: Path) -> Path:
    """train 3 (ids 1,5; cams 2,3,8), query 1 (id 11), gallery 2 (ids 11,12)."""
    d = root / "DukeMTMC-reID"
    _files(d / "bounding_box_train", ["0001_c2_f0046182.jpg", "0001_c3_f0046200.jpg", "0005_c8_f0000001.jpg"])
    _files(d / "query", ["0011_c1_f0000010.jpg"])
    _files(d / "bounding_box_test", ["0011_c2_f0000020.jpg", "0012_c5_f0000030.jpg"])
    return d


def make_msmt_v1(root: Path) -> Path:
    """train = list_train + list_val: 3 usable (labels 0,0,1; cams 1,2,15), 1 missing file,
    1 duplicate, 1 malformed line.  query 1 (pid 0, cam 4), gallery 2 (pids 0,1; cams 5,4)."""
    d = root / "MSMT17_V1"
    train = ["0000/0000_000_01_0303morning_0015_0.jpg", "0000/0000_001_02_0303noon_0016_0.jpg",
             "0001/0001_000_15_0303afternoon_0001_0.jpg"]
    test = ["0000/0000_000_04_0303morning_0100_0.jpg", "0000/0000_001_05_0303noon_0101_0.jpg",
            "0001/0001_000_04_0303noon_0200_1.jpg"]
    _files(d / "train", train, h=40, w=20)
    _files(d / "test", test, h=40, w=20)
    (d / "list_train.txt").write_text(
        f"{train[0]} 0\n{train[2]} 1\n0001/0001_009_03_0303noon_0001_0.jpg 1\ngarbage line here\n"
    )
    (d / "list_val.txt").write_text(f"{train[1]} 0\n{train[0]} 0\n")
    (d / "list_query.txt").write_text(f"{test[0]} 0\n")
    (d / "list_gallery.txt").write_text(f"{test[1]} 0\n{test[2]} 1\n")
    return d


def make_msmt_market_style(root: Path) -> Path:
    """Re-packed MSMT17: train 2 (id 0; cams 1,14), query 1 (id 1, cam 3), gallery 1 (id 1, cam 15)."""
    d = root / "MSMT17"
    _files(d / "bounding_box_train", ["0000_c1_0000.jpg", "0000_c14_0001.jpg"])
    _files(d / "query", ["0001_c3_0000.jpg"])
    _files(d / "bounding_box_test", ["0001_c15_0001.jpg"])
    return d


def make_cuhk03(root: Path) -> Path:
    """detected: train 2 (id 1), query 1 (id 3), gallery 2 (ids 3,4); labeled has one more train image (id 2)."""
    d = root / "cuhk03-np"
    for subset, extra in (("detected", []), ("labeled", ["0002_c1_1.png"])):
        _files(d / subset / "bounding_box_train", ["0001_c1_1.png", "0001_c2_2.png", *extra])
        _files(d / subset / "query", ["0003_c1_1.png"])
        _files(d / subset / "bounding_box_test", ["0003_c2_1.png", "0004_c1_1.png"])
    return d


def make_custom(root: Path) -> Path:
    """A user's own cameras: train 3 (pids 50,51; cams 0,1), query 1, gallery 1, one row with a missing file."""
    d = root / "mycams"
    _files(d, ["a.jpg", "sub/b.jpg", "c.jpg", "q.jpg", "g.jpg"])
    (d / "listing.csv").write_text(
        "path,pid,camid,split\n"
        "a.jpg,50,0,train\nsub/b.jpg,50,1,train\nc.jpg,51,0,train\n"
        "q.jpg,60,0,query\ng.jpg,60,1,gallery\nmissing.jpg,61,1,gallery\n"
    )
    return d


def make_all(root: Path) -> Path:
    """MA, D, MS (V1), C3 under one root."""
    make_market(root)
    make_duke(root)
    make_msmt_v1(root)
    make_cuhk03(root)
    return root
