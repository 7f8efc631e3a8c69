"""One subcommand per pipeline stage, usable without DVC: explicit path options (defaults: the
paths dvc.yaml uses), hyper-parameters from `--params FILE` (validated like the stages') with
repeatable `--set key=value` overrides. Each calls the library function its DVC stage calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reid.cli.common import command, load_params
from reid.config.checks import check_identities
from reid.data.run import run_ingest, run_protocol
from reid.grounding.run import run_grounding
from reid.masks.run import run_calibrate
from reid.pretrain.run import run_pretrain_step
from reid.synth.generate import generate_benchmark
from reid.training.stage1 import train_stage1
from reid.training.stage2 import train_stage2

Params = Annotated[Path, typer.Option(help="Params file for the hyper-parameters (validated as the stages do).")]
Sets = Annotated[list[str] | None, typer.Option("--set", "-S", help="Override KEY=VALUE, e.g. train.epochs=1 (repeatable).")]


def _parse_mapping(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise typer.BadParameter(f"'{item}': expected KEY=FOLDER")
        key, value = item.split("=", 1)
        out[key] = value
    return out


@command
def synth(
    out: Annotated[Path | None, typer.Option(help="Benchmark folder (default: synth.out).")] = None,
    params: Params = Path("params.yaml"),
    set_: Sets = None,
) -> None:
    """Generate the embedded synthetic benchmark."""
    section = load_params(params, set_).synth
    out = out or Path(section.out)
    counts = generate_benchmark(out, section)
    typer.echo(f"wrote synthetic {', '.join(counts)} to {out}")


@command
def ingest(
    root: Annotated[Path, typer.Option(help="Folder holding the datasets (data.root).")],
    out: Annotated[Path, typer.Option(help="Folder for <KEY>.parquet manifests and quarantine.csv.")] = Path("data/manifests"),
    summary: Annotated[Path, typer.Option(help="Summary JSON path.")] = Path("data/manifests/summary.json"),
    dataset: Annotated[list[str] | None, typer.Option(help="Dataset key (repeatable); default: every one found.")] = None,
    cuhk03: Annotated[str, typer.Option(help="CUHK03-NP subset: detected or labeled.")] = "detected",
    custom: Annotated[list[str] | None, typer.Option(help="Custom dataset KEY=FOLDER (repeatable).")] = None,
    workers: Annotated[int | None, typer.Option(help="Processes probing images (default: all cores).")] = None,
) -> None:
    """Scan datasets, probe images, write manifests and the count summary."""
    run_ingest(root, out, summary, dataset or "auto", cuhk03, _parse_mapping(custom or []), workers)


@command
def protocol(
    source: Annotated[str, typer.Option(help="Source key or '+'-joined set, e.g. MA or D+MS+C3.")],
    target: Annotated[list[str] | None, typer.Option(help="Target key (repeatable); default: auto.")] = None,
    manifests: Annotated[Path, typer.Option(help="Folder of ingested manifests.")] = Path("data/manifests"),
    out: Annotated[Path, typer.Option(help="Folder for train.parquet and protocol.json.")] = Path("data/protocol"),
    ids_per_batch: Annotated[int | None, typer.Option(help="Check the source has this many identities (train.ids_per_batch).")] = None,
) -> None:
    """Resolve source/targets and assemble the (offset) training manifest."""
    record = run_protocol(manifests, source, target or "auto", out)
    if ids_per_batch is not None:
        check_identities(record["num_classes"], ids_per_batch)
    typer.echo(f"{record['name']}: {record['num_classes']} identities, {record['train_images']} training images")


@command
def ground(
    train: Annotated[Path, typer.Option(help="Training manifest.")] = Path("data/protocol/train.parquet"),
    store: Annotated[Path, typer.Option(help="Resumable answer store.")] = Path("data/grounding/store"),
    boxes: Annotated[Path, typer.Option(help="Output part boxes.")] = Path("data/grounding/boxes.parquet"),
    sheet: Annotated[Path, typer.Option(help="Output contact sheet.")] = Path("plots/grounding/contact_sheet.png"),
    metrics: Annotated[Path, typer.Option(help="Output metrics JSON.")] = Path("metrics/grounding.json"),
    params: Params = Path("params.yaml"),
    set_: Sets = None,
) -> None:
    """Ground head / upper body / legs boxes on every training image (section `grounding`)."""
    run_grounding(train, store, boxes, sheet, metrics, load_params(params, set_).grounding)


@command
def calibrate(
    boxes: Annotated[Path, typer.Option(help="Grounding boxes.")] = Path("data/grounding/boxes.parquet"),
    train: Annotated[Path, typer.Option(help="Training manifest.")] = Path("data/protocol/train.parquet"),
    out: Annotated[Path, typer.Option(help="Output folder for masks and calibrated boxes.")] = Path("data/masks"),
    plots: Annotated[Path, typer.Option(help="Output folder for the histograms and sheet.")] = Path("plots/calibration"),
    metrics: Annotated[Path, typer.Option(help="Output metrics JSON.")] = Path("metrics/calibration.json"),
    params: Params = Path("params.yaml"),
    set_: Sets = None,
) -> None:
    """Calibrate the boxes and vote them into pseudo-label masks (sections `calibration`, `masks`, `model`)."""
    config = load_params(params, set_)
    run_calibrate(boxes_path=boxes, train_path=train, out_dir=out, plots_dir=plots, metrics_path=metrics,
                  calibration=config.calibration, masks=config.masks, grid=config.model.grid)


@command
def pretrain(
    model_dir: Annotated[Path, typer.Option(help="Output folder of clip.pt.")] = Path("models/pretrain"),
    data: Annotated[Path, typer.Option(help="Folder for the captioned pre-training data.")] = Path("data/pretrain"),
    state: Annotated[Path, typer.Option(help="Resumable training state.")] = Path("checkpoints/pretrain"),
    live: Annotated[Path, typer.Option(help="Epoch log folder.")] = Path("dvclive/pretrain"),
    metrics: Annotated[Path, typer.Option(help="Output metrics JSON.")] = Path("metrics/pretrain.json"),
    params: Params = Path("params.yaml"),
    set_: Sets = None,
) -> None:
    """Pre-train the demo's CLIP prior when `model.pretrained` names it (sections `pretrain`, `model`)."""
    config = load_params(params, set_)
    run_pretrain_step(config=config.pretrain, model=config.model, checkpoint=model_dir / "clip.pt", data_dir=data,
                      state_dir=state, live_dir=live, metrics_path=metrics)


@command
def stage1(
    protocol_dir: Annotated[Path, typer.Option("--protocol", help="Folder of train.parquet and protocol.json.")] = Path("data/protocol"),
    masks: Annotated[Path, typer.Option(help="Pseudo-label masks.")] = Path("data/masks/masks.parquet"),
    out: Annotated[Path, typer.Option(help="Output folder (model.pt, text_memory.pt).")] = Path("models/stage1"),
    state: Annotated[Path, typer.Option(help="Resumable training state.")] = Path("checkpoints/stage1"),
    live: Annotated[Path, typer.Option(help="Epoch log folder.")] = Path("dvclive/stage1"),
    params: Params = Path("params.yaml"),
    set_: Sets = None,
) -> None:
    """Stage 1: learn the prompts and the text memory (sections `model`, `train`, `stage1`)."""
    config = load_params(params, set_)
    train_stage1(config.model, config.train, config.stage1, protocol_dir, masks,
                 out_dir=out, state_dir=state, live_dir=live)


@command
def stage2(
    train_path: Annotated[Path, typer.Option("--train", help="Training manifest.")] = Path("data/protocol/train.parquet"),
    masks: Annotated[Path, typer.Option(help="Pseudo-label masks.")] = Path("data/masks/masks.parquet"),
    stage1_dir: Annotated[Path, typer.Option("--stage1", help="Stage-1 output folder.")] = Path("models/stage1"),
    out: Annotated[Path, typer.Option(help="Output model (image side).")] = Path("models/muva.pt"),
    state: Annotated[Path, typer.Option(help="Resumable training state.")] = Path("checkpoints/stage2"),
    live: Annotated[Path, typer.Option(help="Epoch log folder.")] = Path("dvclive/stage2"),
    params: Params = Path("params.yaml"),
    set_: Sets = None,
) -> None:
    """Stage 2: train the image encoder (sections `train`, `stage2`)."""
    config = load_params(params, set_)
    train_stage2(config.train, config.stage2, train_path, masks, stage1_dir, out_checkpoint=out, state_dir=state, live_dir=live)
