"""The on-disk layouts of the DG Re-ID benchmarks, as data (SPEC §2).

One generic reader (`reid.data.readers`) interprets these records, so adding a dataset
means adding a record here, not another scanning loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SPLITS = ("train", "query", "gallery")


@dataclass(frozen=True)
class SplitCount:
    """Identities, images and cameras of one split (junk excluded, distractors included)."""

    ids: int
    images: int
    cams: int


@dataclass(frozen=True)
class Variant:
    """One way a dataset can lie on disk.

    `split_dirs` (folder layouts) maps a split to the folder scanned for images, relative to
    the dataset root. `list_files` (list layouts, MSMT17 V1) maps a split to list files
    whose lines are `relpath label`, with relpath relative to `list_base[split]`; the pid is
    the label and `pattern`'s camera group is matched against the file name.
    """

    name: str
    marker: str  # a file or folder (relative to the dataset root) whose presence selects this variant
    pattern: str  # regex with groups (pid, camera) matched against the file name
    split_dirs: dict[str, str] = field(default_factory=dict)
    list_files: dict[str, tuple[str, ...]] = field(default_factory=dict)
    list_base: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetLayout:
    key: str
    name: str
    folder_names: tuple[str, ...]  # tried in order under data.root (and one level below)
    variants: tuple[Variant, ...]  # tried in order; the first whose marker exists wins
    num_cams: int
    suffixes: tuple[str, ...]
    official: dict[str, dict[str, SplitCount]]  # subset ("" if none) -> split -> counts
    subsets: tuple[str, ...] = ()  # e.g. CUHK03-NP's detected/labeled; the first is the default

    def describe(self) -> str:
        """One line per variant, for error messages that tell a user what to put where."""
        lines = []
        for v in self.variants:
            if v.list_files:
                what = ", ".join(f for files in v.list_files.values() for f in files)
                lines.append(f"  - {v.name}: folders {sorted(set(v.list_base.values()))} + list files {what}")
            else:
                lines.append(f"  - {v.name}: folders {list(v.split_dirs.values())}, names like {v.pattern}")
        return "\n".join(lines)


def _market_dirs(prefix: str = "") -> dict[str, str]:
    return {
        "train": f"{prefix}bounding_box_train",
        "query": f"{prefix}query",
        "gallery": f"{prefix}bounding_box_test",
    }


def _counts(train: tuple[int, int], query: tuple[int, int], gallery: tuple[int, int], cams: int):
    return {
        "train": SplitCount(*train, cams),
        "query": SplitCount(*query, cams),
        "gallery": SplitCount(*gallery, cams),
    }


MARKET = DatasetLayout(
    key="MA",
    name="Market-1501",
    folder_names=("Market-1501-v15.09.15", "Market-1501", "Market1501", "market1501"),
    variants=(Variant("market", "bounding_box_train", r"^([-\d]+)_c(\d)", split_dirs=_market_dirs()),),
    num_cams=6,
    suffixes=(".jpg",),
    official={"": _counts((751, 12936), (750, 3368), (751, 15913), 6)},
)

DUKE = DatasetLayout(
    key="D",
    name="DukeMTMC-reID",
    folder_names=("DukeMTMC-reID", "dukemtmc-reid", "DukeMTMC-ReID", "dukemtmcreid"),
    variants=(Variant("market", "bounding_box_train", r"^([-\d]+)_c(\d)", split_dirs=_market_dirs()),),
    num_cams=8,
    suffixes=(".jpg",),
    official={"": _counts((702, 16522), (702, 2228), (1110, 17661), 8)},
)

MSMT = DatasetLayout(
    key="MS",
    name="MSMT17",
    folder_names=("MSMT17_V1", "MSMT17", "msmt17", "MSMT17_V2"),
    variants=(
        Variant(
            "v1-lists",
            "list_train.txt",
            r"^(\d+)_\d+_(\d+)_",  # 0000_000_01_0303morning_0015_0.jpg: camera = 3rd field
            list_files={
                "train": ("list_train.txt", "list_val.txt"),
                "query": ("list_query.txt",),
                "gallery": ("list_gallery.txt",),
            },
            list_base={"train": "train", "query": "test", "gallery": "test"},
        ),
        Variant("market", "bounding_box_train", r"^([-\d]+)_c([-\d]+)", split_dirs=_market_dirs()),
    ),
    num_cams=15,
    suffixes=(".jpg",),
    official={"": _counts((1041, 32621), (3060, 11659), (3060, 82161), 15)},
)

CUHK03 = DatasetLayout(
    key="C3",
    name="CUHK03-NP",
    folder_names=("cuhk03-np", "CUHK03-NP", "cuhk03_np", "cuhk03-np-jpg"),
    variants=(
        Variant("detected", "detected", r"^([-\d]+)_c(\d)", split_dirs=_market_dirs("detected/")),
        Variant("labeled", "labeled", r"^([-\d]+)_c(\d)", split_dirs=_market_dirs("labeled/")),
    ),
    num_cams=2,
    suffixes=(".png", ".jpg"),
    official={
        "detected": _counts((767, 7365), (700, 1400), (700, 5332), 2),
        "labeled": _counts((767, 7368), (700, 1400), (700, 5328), 2),
    },
    subsets=("detected", "labeled"),
)

LAYOUTS: dict[str, DatasetLayout] = {d.key: d for d in (MARKET, DUKE, MSMT, CUHK03)}
