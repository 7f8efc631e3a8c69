"""Subcommands that use a trained model: embed, search, evaluate, export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from reid.cli.common import command
from reid.cli.stages import with_roles
from reid.config.checks import check_device
from reid.config.load import load_config
from reid.data.manifest import read_manifest
from reid.errors import InputError
from reid.evaluation.record import metrics_record
from reid.evaluation.run import evaluate_target
from reid.feature_store import embed_files, image_files, model_digest, read_features
from reid.inference import Encoder, load_model
from reid.search import rank_gallery, search_sheet
from reid.utils.files import check_writable
from reid.wiring import run_stage, stage_io

Model = Annotated[Path, typer.Option("--model", "-m", help="Trained checkpoint (e.g. models/muva.pt).")]
Device = Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 … (default: CUDA if available).")]
BatchSize = Annotated[int, typer.Option(min=1, help="Images per forward pass.")]
Workers = Annotated[int, typer.Option(min=0, help="Image-decoding processes (0 = in this process).")]


def _load(model: Path, device: str | None) -> Encoder:
    if device is not None:
        check_device("--device", device)
    return load_model(model, device)


@command
def embed(
    images: Annotated[list[Path], typer.Argument(help="Image files and/or folders (searched recursively).")],
    model: Model,
    out: Annotated[Path, typer.Option(help="Feature file: parquet with columns path, feature.")],
    batch_size: BatchSize = 64,
    workers: Workers = 2,
    device: Device = None,
) -> None:
    """Embed images into a parquet file; a rerun resumes, computing only the rows not yet written."""
    paths = image_files(images)
    check_writable([out.parent], "the --out folder", "choose another --out")  # before the model loads
    encoder = _load(model, device)
    computed = embed_files(encoder, model_digest(model), paths, out, batch_size, workers)
    typer.echo(f"{len(paths)} images ({computed} computed now) x {encoder.feature_dim} features -> {out}")


@command
def search(
    model: Model,
    gallery: Annotated[Path, typer.Option(help="Gallery: a folder of images or a feature file from `reid embed`.")],
    query: Annotated[Path, typer.Option(help="Query image.")],
    top: Annotated[int, typer.Option(min=1, help="How many matches to list.")] = 10,
    sheet: Annotated[Path | None, typer.Option(help="Picture of the query and its matches (PNG).")] = Path("search.png"),
    batch_size: BatchSize = 64,
    workers: Workers = 2,
    device: Device = None,
) -> None:
    """Rank a gallery by distance to a query image (the distance evaluation ranks by)."""
    query_path = image_files([query])
    if len(query_path) != 1:
        raise InputError(f"{query}: give one query image, not a folder of {len(query_path)}")
    encoder = _load(model, device)
    if gallery.is_file() and gallery.suffix == ".parquet":
        paths, features = read_features(gallery, model_digest(model))
    else:
        paths = image_files([gallery])
        features = encoder.embed(paths, batch_size, workers)
    order, distances = rank_gallery(encoder.embed(query_path)[0], features, top)
    typer.echo(f"{'rank':>4}  {'distance':>8}  path")
    for rank, (i, d) in enumerate(zip(order, distances), 1):
        typer.echo(f"{rank:>4}  {d:8.4f}  {paths[i]}")
    if sheet is not None:
        search_sheet(query_path[0], [paths[i] for i in order], distances, sheet, f"{query.name} in {gallery.name}")
        typer.echo(f"sheet -> {sheet}")


def evaluate(
    dataset: Annotated[list[str] | None, typer.Option(help="Ingested dataset key (repeatable); none: the protocol's targets, as the DVC stage.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="With --dataset: also write the metrics as JSON.")] = None,
    batch_size: BatchSize = 128,
    workers: Workers = 2,
    device: Device = None,
    params: Path = Path("params.yaml"),
    set_: list[str] | None = None,
    **paths: Path | None,
) -> None:
    """mAP and Rank-1/5/10 of the model on ingested datasets (or, without --dataset, the stage `evaluate`).

    With --dataset: params `evaluation` with --batch-size, --workers and --device on top, --json,
    and of the paths --model, --manifests and --sheets (none: no sheets); without it, the params
    and every path apply. With --dataset the model may also be a CLIP prior (an open_clip checkpoint
    such as models/pretrain/clip.pt), ranked by its image embedding: what Re-ID training adds over it.
    """
    config = load_config(params, set_)
    if not dataset:
        run_stage("evaluate", config, paths)
        return
    full, section, io = config, config.evaluation, stage_io("evaluate", config, paths)
    model, manifests, sheets = io.inputs["model"], io.inputs["manifests"], paths["sheets"]
    encoder = _load(model, device)
    frames = {key: read_manifest(manifests, key) for key in dataset}  # every key checked before any work
    config = section.model_copy(update={"batch_size": batch_size, "workers": workers, "mask_images": 0,
                                        "sheet_queries": section.sheet_queries if sheets else 0})
    if sheets:
        sheets.mkdir(parents=True, exist_ok=True)
    extra = None
    if full.muse.enabled:  # MUSE's rankings beside the plain ones; pairs the μ store lacks are judged first
        from reid.muse.evaluate import judging_rankings  # needs the `mllm` extra

        extra = judging_rankings(full.muse, full.vlm, io.inputs["adapter"], io.inputs["mu"], workers)
    results = {key: evaluate_target(encoder.module, frame, key, config, encoder.device, sheets, model.name, extra)
               for key, frame in frames.items()}
    record = {**metrics_record(results, f"{model}->{','.join(dataset)}", any(r.synthetic for r in results.values())),
              "method": encoder.config.method}  # as the stage's record: a CLIP prior's is "clip_prior"
    if extra is not None:
        record[extra.name] = extra.info
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(record, indent=2) + "\n")


command(with_roles("evaluate", evaluate))


@command
def export(
    model: Model,
    onnx: Annotated[Path, typer.Option(help="Output ONNX file.")],
) -> None:
    """Export the encoder to ONNX and check it against PyTorch with onnxruntime."""
    from reid.export import TOLERANCE, export_onnx  # needs the `export` extra

    diff = export_onnx(load_model(model, "cpu").module, onnx)
    typer.echo(f"{onnx}: onnxruntime matches PyTorch, max abs difference {diff:.2e} (allowed {TOLERANCE})")
