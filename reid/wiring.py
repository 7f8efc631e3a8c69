"""The pipeline's wiring as plain data, declared once: each stage's function, parameter sections, inputs and outputs.

Everything that names a pipeline file reads it here: the DVC entry points (`stages/`), the
`reid` subcommands (one per stage, built from this table), the library where one stage
needs another's path, and `dvc.yaml`, which is generated from this table and each stage's
import closure (`python -m stages.wiring --write`; a test keeps it up to date). Paths are
relative to the repository root, as DVC runs stages; `${section.key}` entries are params.
This module imports nothing of reid, so any layer may read it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

CUSTOM_DIR = "data/custom"  # custom datasets live here or under data.root: both are deps of the stages that read them

OutKind = Literal["outs", "metrics", "plots", "scratch"]  # scratch: the stage's own, outside DVC


@dataclass(frozen=True)
class Out:
    """One output of a stage, with what DVC needs to know of it."""

    path: str
    kind: OutKind = "outs"
    cache: bool = True
    persist: bool = False
    plot: Mapping[str, Any] = field(default_factory=dict)  # dvc plot properties (x, y, title, …)
    help: str = ""  # what the file is, for the CLI option


@dataclass(frozen=True)
class In:
    """One input of a stage (a dvc.yaml data dependency)."""

    path: str
    note: str = ""
    help: str = ""
    via: str = ""  # the stage finds it through this param or through the files it reads: a DVC dependency only


@dataclass(frozen=True)
class Stage:
    """A pipeline stage: `entry` ("module:function") is called as function(params, io)."""

    entry: str
    help: str
    params: tuple[str, ...]  # sections (or section.key) the stage reads
    inputs: Mapping[str, In] = field(default_factory=dict)  # role -> data dependency
    outputs: Mapping[str, Out] = field(default_factory=dict)  # role -> output
    note: str = ""  # a comment beside the command in dvc.yaml

    @property
    def sections(self) -> frozenset[str]:
        return frozenset(p.split(".")[0] for p in self.params)

    def function(self) -> Callable[[StageParams, StageIO], None]:
        """The library function that runs the stage, imported only now (the table itself imports nothing)."""
        module, _, name = self.entry.partition(":")
        return getattr(importlib.import_module(module), name)


def _training_outputs(name: str) -> dict[str, Out]:
    """A training stage's resume state and its DVCLive log (DVCLive names the files in its folder)."""
    return {
        "state": Out(f"checkpoints/{name}", cache=False, persist=True, help="Resumable training state."),
        "metrics": Out(f"dvclive/{name}/metrics.json", kind="metrics", cache=False, help="DVCLive summary."),
        "plots": Out(f"dvclive/{name}/plots/metrics", kind="plots", cache=False, plot={"x": "step"}, help="DVCLive curves."),
    }


STAGES: dict[str, Stage] = {
    "synth": Stage(
        entry="reid.synth.generate:synth",
        help="Generate the embedded synthetic benchmark (section `synth`).",
        params=("synth",),
        outputs={"benchmark": Out("${synth.out}", help="Benchmark folder.")},
    ),
    "ingest": Stage(
        entry="reid.data.run:ingest",
        help="Scan the datasets under data.root, probe every image, write manifests and the count summary (section `data`).",
        params=("data",),
        inputs={"root": In("${data.root}", note="custom datasets live here or in data/custom", help="Folder of the datasets."),
                "custom": In(CUSTOM_DIR, help="Folder of custom datasets.")},
        outputs={"manifests": Out("data/manifests", help="Folder of <KEY>.parquet manifests, quarantine.csv, summary.json.")},
    ),
    "protocol": Stage(
        entry="reid.data.run:protocol",
        help="Resolve source and targets, assemble the (offset) training manifest (section `protocol`).",
        params=("protocol", "train.ids_per_batch"),
        inputs={"manifests": In("data/manifests", help="Folder of ingested manifests.")},
        outputs={"protocol": Out("data/protocol", help="Folder of train.parquet and protocol.json.")},
    ),
    "ground": Stage(
        entry="reid.grounding.run:ground",
        help="Ground head / upper body / legs boxes on every training image (section `grounding`).",
        params=("grounding",),
        inputs={"train": In("data/protocol/train.parquet", help="Training manifest.")},
        outputs={
            "store": Out("data/grounding/store", persist=True, help="Resumable answer store."),
            "boxes": Out("data/grounding/boxes.parquet", help="Part boxes."),
            "sheet": Out("plots/grounding/contact_sheet.png", help="Contact sheet."),
            "metrics": Out("metrics/grounding.json", kind="metrics", cache=False, help="Metrics JSON."),
        },
        note="several GPUs: torchrun --nproc_per_node N -m stages.ground",
    ),
    "calibrate": Stage(
        entry="reid.masks.run:calibrate",
        help="Calibrate the boxes and vote them into pseudo-label masks (sections `calibration`, `masks`, `model`).",
        params=("calibration", "masks", "model.backbone", "model.image_size", "model.clip"),
        inputs={"boxes": In("data/grounding/boxes.parquet", help="Grounding boxes."),
                "train": In("data/protocol/train.parquet", help="Training manifest.")},
        outputs={
            "masks": Out("data/masks", help="Folder of masks and calibrated boxes."),
            "plot": Out("plots/calibration/box_heights.png", help="Box-height histograms (Fig. 5)."),
            "sheet": Out("plots/calibration/contact_sheet.png", help="Raw and calibrated boxes side by side."),
            "plot_data": Out("plots/calibration/box_heights.csv", cache=False, help="The histograms' data."),
            "metrics": Out("metrics/calibration.json", kind="metrics", cache=False, help="Metrics JSON."),
        },
    ),
    "pretrain": Stage(
        entry="reid.pretrain.run:pretrain",
        help="Pre-train the demo's CLIP prior when `model.pretrained` names it (sections `pretrain`, `model`).",
        params=("pretrain", "model.backbone", "model.pretrained", "model.clip"),
        outputs={
            "data": Out("data/pretrain", help="Folder of the captioned pre-training data."),
            "model": Out("models/pretrain", help="Folder of clip.pt."),
            "live": Out("dvclive/pretrain", cache=False, help="Epoch log folder."),
            "metrics": Out("metrics/pretrain.json", kind="metrics", cache=False, help="Metrics JSON."),
            # outside DVC: a persistent out would turn DVC's run cache off, and every experiment would re-train
            "state": Out("checkpoints/pretrain", kind="scratch", help="Resumable training state."),
        },
        note="trains only when model.pretrained is models/pretrain/clip.pt (the demo); no persistent outs",
    ),
    "vlm": Stage(
        entry="reid.vlm.run:vlm",
        help="Train the demo's stand-in VLM when `vlm.model` names it and MUSE or LVLM-ReID needs one (section `vlm`).",
        params=("vlm", "muse.enabled", "method", "lvlm_reid.instruction"),
        inputs={"captions": In("data/pretrain", help="Folder of the captioned pool (captions.parquet).")},
        outputs={
            "model": Out("models/vlm", help="The VLM in Hugging Face format (model, tokenizer, processor)."),
            "live": Out("dvclive/vlm", cache=False, help="Epoch log folder."),
            "metrics": Out("metrics/vlm.json", kind="metrics", cache=False, help="Metrics JSON."),
            "state": Out("checkpoints/vlm", kind="scratch", help="Resumable training state."),
        },
        note="trains only when vlm.model is models/vlm and muse.enabled or method lvlm_reid; no persistent outs",
    ),
    "semantic": Stage(
        entry="reid.vlm.semantic:semantic",
        help="LVLM-ReID's semantic tokens: the frozen VLM reads every training image once (sections `lvlm_reid`, `vlm`).",
        params=("method", "lvlm_reid.instruction", "vlm", "evaluation.batch_size", "evaluation.device",
                "evaluation.workers"),
        inputs={"train": In("data/protocol/train.parquet", help="Training manifest."),
                "vlm": In("models/vlm", via="vlm.model"),
                "root": In("${data.root}", via="the manifest's paths"),
                "custom": In(CUSTOM_DIR, via="the manifest's paths")},
        outputs={"tokens": Out("data/lvlm", help="Folder of train_tokens.pt."),
                 "metrics": Out("metrics/lvlm/semantic.json", kind="metrics", cache=False, help="Metrics JSON.")},
        note="runs only when method is lvlm_reid",
    ),
    "stage1": Stage(
        entry="reid.training.stage1:stage1",
        help="Stage 1 of `method`: learn the prompts and the text memory, or LVLM-ReID's SGI on the frozen ViT "
             "(sections `model`, `train`, and `stage1`, `clip_reid`, `clip_fgdi` or `lvlm_reid`).",
        params=("method", "model", "train", "stage1", "clip_reid", "clip_fgdi", "lvlm_reid"),
        inputs={"protocol": In("data/protocol", help="Folder of train.parquet and protocol.json."),
                "masks": In("data/masks/masks.parquet", help="Pseudo-label masks."),
                "semantic": In("data/lvlm", help="LVLM-ReID's semantic tokens of the training images."),
                "prior": In("models/pretrain", via="model.pretrained")},
        outputs={
            "model": Out("models/stage1", help="Folder of model.pt and text_memory.pt."),
            **_training_outputs("stage1"),
        },
        note="several GPUs: torchrun --nproc_per_node N -m stages.stage1",
    ),
    "stage2": Stage(
        entry="reid.training.stage2:stage2",
        help="Stage 2 of `method`: train the image encoder (sections `train`, and `stage2`, `clip_reid`, `clip_fgdi` "
             "or `lvlm_reid`).",
        params=("method", "train", "stage2", "clip_reid", "clip_fgdi", "lvlm_reid"),
        inputs={"train": In("data/protocol/train.parquet", help="Training manifest."),
                "masks": In("data/masks/masks.parquet", help="Pseudo-label masks."),
                "semantic": In("data/lvlm", help="LVLM-ReID's semantic tokens of the training images."),
                "stage1": In("models/stage1", help="Stage-1 output folder.")},
        outputs={
            "model": Out("models/${method}.pt", help="The trained model (image side)."),
            **_training_outputs("stage2"),
        },
        note="several GPUs: torchrun --nproc_per_node N -m stages.stage2",
    ),
    "pairs": Stage(
        entry="reid.muse.run:pairs",
        help="MUSE's hard pairs from the trained encoder on the source training split (section `muse.pairs`).",
        params=("muse.enabled", "muse.pairs", "evaluation.batch_size", "evaluation.device", "evaluation.workers"),
        inputs={"model": In("models/${method}.pt", help="The trained model."),
                "train": In("data/protocol/train.parquet", help="Training manifest.")},
        outputs={"pairs": Out("data/muse/pairs.parquet", help="Query-candidate pairs with Yes/No and split."),
                 "metrics": Out("metrics/muse/pairs.json", kind="metrics", cache=False, help="Metrics JSON.")},
        note="runs only when muse.enabled",
    ),
    "sft": Stage(
        entry="reid.muse.run:sft",
        help="MUSE's LoRA fine-tuning of the VLM on the Yes/No answer (sections `muse.sft`, `vlm`).",
        params=("muse.enabled", "muse.sft", "vlm"),
        inputs={"pairs": In("data/muse/pairs.parquet", help="The hard pairs."),
                "vlm": In("models/vlm", via="vlm.model")},
        outputs={"adapter": Out("models/muse", help="Folder of the LoRA adapter (peft format)."),
                 "live": Out("dvclive/sft", cache=False, help="Epoch log folder."),
                 "metrics": Out("metrics/muse/sft.json", kind="metrics", cache=False, help="Metrics JSON."),
                 "state": Out("checkpoints/sft", kind="scratch", help="Resumable training state.")},
        note="runs only when muse.enabled",
    ),
    "mu": Stage(
        entry="reid.muse.run:mu",
        help="MUSE's mu = p(No) for every target query's top-k gallery candidates, into a resumable store "
             "(sections `muse`, `vlm`).",
        params=("muse.enabled", "muse.topk", "muse.tau", "muse.swap", "muse.batch_size", "vlm",
                "evaluation.batch_size", "evaluation.device", "evaluation.workers"),
        inputs={"model": In("models/${method}.pt", help="The trained model."),
                "adapter": In("models/muse", help="The LoRA adapter."),
                "vlm": In("models/vlm", via="vlm.model"),
                "manifests": In("data/manifests", help="Folder of ingested manifests."),
                "protocol": In("data/protocol/protocol.json", help="The protocol record."),
                "root": In("${data.root}", via="the manifests' paths"),
                "custom": In(CUSTOM_DIR, via="the manifests' paths")},
        outputs={"store": Out("data/muse/mu", persist=True, help="Resumable mu store."),
                 "metrics": Out("metrics/muse/mu.json", kind="metrics", cache=False, help="Metrics JSON.")},
        note="runs only when muse.enabled; several GPUs: torchrun --nproc_per_node N -m stages.mu",
    ),
    "evaluate": Stage(
        entry="reid.evaluation.stage:evaluate",
        help="Evaluate the trained model on every target of the protocol, with MUSE's rankings when muse.enabled "
             "(sections `evaluation`, `muse`, `vlm`).",
        params=("evaluation", "muse", "vlm"),
        inputs={
            "model": In("models/${method}.pt", help="The trained model."),
            "manifests": In("data/manifests", help="Folder of ingested manifests."),
            "protocol": In("data/protocol/protocol.json", help="The protocol record."),
            "root": In("${data.root}", note="images and gt_boxes.parquet are read directly", via="the manifests' paths"),
            "custom": In(CUSTOM_DIR, via="the manifests' paths"),
            "mu": In("data/muse/mu", help="MUSE's mu store (read when muse.enabled)."),
            "adapter": In("models/muse", help="MUSE's LoRA adapter (names the judge)."),
            "vlm": In("models/vlm", via="vlm.model"),
        },
        outputs={
            "cmc": Out("plots/evaluation/cmc", kind="plots", cache=False,
                       plot={"x": "rank", "y": "cmc", "title": "CMC", "x_label": "rank", "y_label": "matching rate (%)"},
                       help="Folder of each target's CMC curve (CSV)."),
            "cmc_plot": Out("plots/evaluation/cmc.png", kind="plots", help="The CMC curves drawn."),
            "sheets": Out("plots/evaluation/sheets", kind="plots", help="Folder of ranking and part-mask sheets."),
            "metrics": Out("metrics/evaluation.json", kind="metrics", cache=False, help="Metrics JSON."),
        },
    ),
}

# plots shown by `dvc plots show` beside the stages' own (dvc.yaml's top-level `plots`)
PLOTS: dict[str, Mapping[str, Any]] = {
    "dvclive/pretrain/plots/metrics": {"x": "step"},
    "plots/calibration/box_heights.csv": {
        "x": "height", "y": ["head_before", "head_after", "upper_before", "upper_after", "legs_before", "legs_after"]},
    "plots/grounding/contact_sheet.png": {},
    "plots/calibration/box_heights.png": {},
    "plots/calibration/contact_sheet.png": {},
}

PRETRAINED_FILE = "clip.pt"  # the prior's file inside the pretrain stage's `model` folder
PRETRAIN_CHECKPOINT = f"{STAGES['pretrain'].outputs['model'].path}/{PRETRAINED_FILE}"  # what the demo's model.pretrained names

_PARAM = re.compile(r"\$\{([A-Za-z0-9_.]+)\}")


@dataclass(frozen=True)
class StageIO:
    """The resolved paths of one run of a stage: role -> path."""

    inputs: Mapping[str, Path]
    outputs: Mapping[str, Path]


def resolve(path: str, config: Any) -> str:
    """`path` with each `${section.key}` replaced by that value of the validated tree."""

    def value(match: re.Match[str]) -> str:
        node = config
        for part in match.group(1).split("."):
            node = getattr(node, part)
        return str(node)

    return _PARAM.sub(value, path)


def stage_io(name: str, config: Any, overrides: Mapping[str, str | Path | None] | None = None) -> StageIO:
    """The paths stage `name` reads and writes: the table's (params resolved), or the given role -> path."""
    stage, overrides = STAGES[name], {k: v for k, v in (overrides or {}).items() if v is not None}
    return StageIO(
        inputs={role: Path(overrides.get(role, resolve(i.path, config))) for role, i in stage.inputs.items()},
        outputs={role: Path(overrides.get(role, resolve(o.path, config))) for role, o in stage.outputs.items()},
    )


class StageParams:
    """The sections of the validated tree that one stage declares; reading another one is refused.

    DVC re-runs a stage only when its declared params change, so a stage that read an
    undeclared section would be cached stale.
    """

    def __init__(self, name: str, config: Any):
        self._name, self._config, self._stage = name, config, STAGES[name]

    def __getattr__(self, section: str) -> Any:
        if section.startswith("_"):
            raise AttributeError(section)
        if section not in self._stage.sections:
            raise AttributeError(f"stage {self._name} reads params section '{section}', which reid/wiring.py "
                                 f"does not declare for it (declared: {', '.join(self._stage.params)})")
        return getattr(self._config, section)


def run_stage(name: str, config: Any, paths: Mapping[str, str | Path | None] | None = None) -> None:
    """Stage `name` on the validated tree `config`, as `python -m stages.<name>` and `reid <name>` run it:
    its function, with the sections it declares and its paths (the table's, or the given role -> path)."""
    STAGES[name].function()(StageParams(name, config), stage_io(name, config, paths))
