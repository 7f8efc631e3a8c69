"""The pipeline's wiring, declared once: each stage's parameter sections, inputs and outputs.

Stage code takes its paths from here and may read only the parameter sections declared here;
`tests/test_wiring.py` holds dvc.yaml to the same table, and to the import closure of each
stage's code (every file under reid/ and stages/ a stage imports is one of its deps).
Paths are relative to the repository root, as DVC runs stages; `${...}` entries are params.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CUSTOM_DIR = "data/custom"  # custom datasets live here or under data.root: both are ingest deps


@dataclass(frozen=True)
class Stage:
    params: tuple[str, ...]  # sections (or section.key) the stage reads
    inputs: dict[str, str] = field(default_factory=dict)  # role -> data path (a dvc.yaml dep)
    outputs: dict[str, str] = field(default_factory=dict)  # role -> path (a dvc.yaml out, metric or plot)

    @property
    def sections(self) -> frozenset[str]:
        return frozenset(p.split(".")[0] for p in self.params)


STAGES: dict[str, Stage] = {
    "synth": Stage(
        params=("synth",),
        outputs={"benchmark": "${synth.out}"},
    ),
    "ingest": Stage(
        params=("data",),
        inputs={"root": "${data.root}", "custom": CUSTOM_DIR},
        outputs={"manifests": "data/manifests"},
    ),
    "protocol": Stage(
        params=("protocol", "train.ids_per_batch"),
        inputs={"manifests": "data/manifests"},
        outputs={"protocol": "data/protocol"},
    ),
    "ground": Stage(
        params=("grounding",),
        inputs={"train": "data/protocol/train.parquet"},
        outputs={
            "store": "data/grounding/store",
            "boxes": "data/grounding/boxes.parquet",
            "sheet": "plots/grounding/contact_sheet.png",
            "metrics": "metrics/grounding.json",
        },
    ),
    "calibrate": Stage(
        params=("calibration", "masks", "model.backbone", "model.image_size", "model.clip"),
        inputs={"boxes": "data/grounding/boxes.parquet", "train": "data/protocol/train.parquet"},
        outputs={
            "masks": "data/masks",
            "plot": "plots/calibration/box_heights.png",
            "plot_data": "plots/calibration/box_heights.csv",
            "sheet": "plots/calibration/contact_sheet.png",
            "metrics": "metrics/calibration.json",
        },
    ),
    "pretrain": Stage(
        params=("pretrain", "model.backbone", "model.pretrained", "model.clip"),
        outputs={
            "data": "data/pretrain",
            "model": "models/pretrain",
            "live": "dvclive/pretrain",
            "metrics": "metrics/pretrain.json",
        },
    ),
    "stage1": Stage(
        params=("model", "train", "stage1"),
        inputs={"protocol": "data/protocol", "masks": "data/masks/masks.parquet", "prior": "models/pretrain"},
        outputs={
            "model": "models/stage1",
            "state": "checkpoints/stage1",
            "metrics": "dvclive/stage1/metrics.json",
            "plots": "dvclive/stage1/plots/metrics",
        },
    ),
    "stage2": Stage(
        params=("train", "stage2"),
        inputs={"train": "data/protocol/train.parquet", "masks": "data/masks/masks.parquet", "stage1": "models/stage1"},
        outputs={
            "model": "models/muva.pt",
            "state": "checkpoints/stage2",
            "metrics": "dvclive/stage2/metrics.json",
            "plots": "dvclive/stage2/plots/metrics",
        },
    ),
    "evaluate": Stage(
        params=("evaluation",),
        inputs={
            "model": "models/muva.pt",
            "manifests": "data/manifests",
            "protocol": "data/protocol/protocol.json",
            "root": "${data.root}",  # target images and their gt_boxes.parquet are read directly
            "custom": CUSTOM_DIR,
        },
        outputs={
            "cmc": "plots/evaluation/cmc",
            "cmc_plot": "plots/evaluation/cmc.png",
            "sheets": "plots/evaluation/sheets",
            "metrics": "metrics/evaluation.json",
        },
    ),
}

# scratch state outside DVC (a persistent out would turn DVC's run cache off for the stage)
PRETRAIN_STATE = "checkpoints/pretrain"
