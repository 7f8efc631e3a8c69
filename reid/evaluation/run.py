"""The evaluate step end to end: model + target manifests → metrics JSON and pictures.

For every target of the protocol (a target equal to a source is the source-domain test,
paper Table 4), query and gallery features are extracted in one pass (with the predicted
part masks of AM-MSA models) and ranked with the Market-1501 protocol.

The metrics JSON it writes is built and described in `record.py`.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl
import torch

from reid.config.checks import check_device
from reid.data.manifest import read_manifest
from reid.data.protocol import read_protocol
from reid.errors import ArtifactError, InputError, ReidError
from reid.evaluation.bootstrap import BootstrapDraws, bootstrap_draws
from reid.evaluation.config import Evaluation
from reid.evaluation.extract import Extraction, extract, predicts_masks
from reid.evaluation.mask_iou import box_mask_iou
from reid.evaluation.metrics import ReIDMetrics, evaluate_distances, evaluate_features
from reid.evaluation.pictures import (
    MaskSamples,
    choose_queries,
    part_mask_sheet,
    ranking_sheet,
    top_matches,
    write_cmc,
)
from reid.evaluation.record import CI_LEVEL, Ranked, TargetResult, metrics_record
from reid.evaluation.rerank import KReciprocal
from reid.masks.report import truth_boxes
from reid.model.checkpoint import load_for_inference
from reid.model.muva import ReidEncoder
from reid.utils.device import resolve_device
from reid.utils.files import reason_of

TOP_K = 10  # gallery matches per query on the ranking sheet
Distances = Callable[[int, int], torch.Tensor]  # (start, stop) → the [stop − start, G] block, as evaluate_distances asks


class ExtraRankings(Protocol):
    """More rankings of each target beside the plain and re-ranked ones (MUSE's: `reid.muse.evaluate`), named
    `name` in the record, with `info` (what produced them) at its top level."""

    name: str
    info: dict

    def __call__(self, target: str, q_feats: torch.Tensor, g_feats: torch.Tensor, query: pl.DataFrame,
                 gallery: pl.DataFrame) -> tuple[dict[str, Distances], dict]:
        """The target's rankings (name → distances) and what the record should say of them."""
BOOTSTRAP_SEED = 0


class SemanticTokens(Protocol):
    """LVLM-ReID's VLM pass: the semantic token [N, hidden] of each image of `paths` (reid.vlm.semantic)."""

    def __call__(self, paths: list[str], desc: str) -> torch.Tensor: ...

    def cost(self) -> dict:
        """What the passes so far cost (images, seconds), for the record."""


def run_evaluate(
    checkpoint: Path,
    manifests_dir: Path,
    protocol_json: Path,
    metrics_path: Path,
    cmc_dir: Path,
    cmc_plot: Path,
    sheets_dir: Path,
    config: Evaluation,
    extra: ExtraRankings | None = None,
    semantic: Callable[[Path], SemanticTokens] | None = None,
) -> dict:
    """Evaluate the checkpoint on every target of the protocol; write metrics and pictures.

    `cmc_dir` receives `<TARGET>.csv`, `cmc_plot` draws them, and `sheets_dir` the optional
    pictures (`ranking_<TARGET>.png`, and `part_masks.png` for models that predict masks), in
    one folder so that DVC can declare it whatever the model and protocol. `semantic` builds the
    VLM's token reader for a checkpoint, called only for an LVLM-ReID model, so that evaluating
    any other method never opens the VLM.
    """
    check_device("evaluation.device", config.device)
    protocol = load_protocol(protocol_json)
    device = resolve_device(config.device)
    encoder = load_model(checkpoint, device)
    tokens = None
    if encoder.config.method == "lvlm_reid":
        if semantic is None:
            raise ArtifactError(checkpoint, "stage2", "is an LVLM-ReID model: its evaluation needs the VLM's semantic "
                                                      "tokens (the evaluate stage gives them)")
        tokens = semantic(Path(checkpoint))
    sheets_dir = Path(sheets_dir)
    sheets_dir.mkdir(parents=True, exist_ok=True)
    frames = {target: read_manifest(Path(manifests_dir), target) for target in protocol["targets"]}  # all, before any work
    model = Path(checkpoint).name  # names the model on the pictures
    results = {target: evaluate_target(encoder, frame, target, config, device, sheets_dir, model, extra, tokens)
               for target, frame in frames.items()}
    synthetic = bool(protocol.get("synthetic", False)) or any(r.synthetic for r in results.values())
    record = {**metrics_record(results, protocol["name"], synthetic), "method": encoder.config.method}
    if extra is not None:
        record[extra.name] = extra.info
    if tokens is not None:
        record["semantic"] = tokens.cost()
    metrics_path = Path(metrics_path)
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(record, indent=2) + "\n")
    write_cmc({t: r.metrics.cmc for t, r in results.items()}, Path(cmc_dir), Path(cmc_plot))
    samples = {t: r.mask_samples for t, r in results.items() if r.mask_samples is not None}
    if samples:
        part_mask_sheet(samples, encoder.config.grid, encoder.config.parts, sheets_dir / "part_masks.png",
                        title=f"Part masks predicted by {model}: each part's patches tinted, the others dimmed")
    return record


def load_model(checkpoint: Path, device: torch.device) -> ReidEncoder:
    """The image side of the trained model, in eval mode on `device` (missing or unreadable: re-run stage2)."""
    return load_for_inference(checkpoint, device, stage="stage2")


def load_protocol(path: Path) -> dict:
    """protocol.json, or an `ArtifactError` (stage `protocol`) if it is missing, unreadable or lacks a key."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(path, "protocol")
    try:
        protocol = read_protocol(path)
        absent = [k for k in ("name", "targets") if k not in protocol]
        if absent or not isinstance(protocol["targets"], list):
            raise ValueError(f"no {' and no '.join(absent)}" if absent else "targets is not a list")
    except ReidError:
        raise
    except Exception as exc:
        raise ArtifactError(path, "protocol", f"is unreadable ({reason_of(exc)})") from exc
    return protocol


def evaluate_target(
    encoder: ReidEncoder, frame: pl.DataFrame, target: str, config: Evaluation, device: torch.device, sheets_dir: Path,
    model: str,
    extra: ExtraRankings | None = None,
    semantic: SemanticTokens | None = None,
) -> TargetResult:
    """Metrics (and mask IoU on synthetic data) of one target, and of `extra`'s rankings; writes its ranking sheet."""
    query, gallery = split_test(frame, target)
    rows = pl.concat([query, gallery])
    with_masks = predicts_masks(encoder.config)
    tokens = None if semantic is None else semantic(rows["path"].to_list(), f"{target} semantic tokens")
    out = extract(encoder, rows["path"].to_list(), batch_size=config.batch_size, device=device,
                  workers=config.workers, desc=f"{target} query+gallery", with_masks=with_masks, semantic=tokens)
    n = query.height
    rank_device = device if device.type == "cuda" else torch.device("cpu")  # ranking is int64 work: CUDA or CPU
    q_feats, g_feats = out.features[:n].to(rank_device), out.features[n:].to(rank_device)
    ids = query["pid"].to_numpy(), gallery["pid"].to_numpy(), query["camid"].to_numpy(), gallery["camid"].to_numpy()
    metrics = evaluate_features(q_feats, g_feats, *ids, max_rank=config.max_rank)
    reranked = rerank_metrics(q_feats, g_feats, ids, config) if config.rerank.enabled else None
    if config.sheet_queries:
        sheet = sheets_dir / f"ranking_{target}.png"
        write_ranking_sheet(out.features, query, gallery, metrics, config.sheet_queries, sheet, f"{model} on {target}")
    draws = target_draws(metrics, query, target, config)
    print(f"{target}: {shown(metrics, draws)}  Rank-5 {100 * metrics.rank5:.2f}  Rank-10 {100 * metrics.rank10:.2f}  "
          f"({metrics.num_valid} queries, {metrics.num_skipped} skipped, {gallery.height} gallery)")
    if reranked is not None:
        r = config.rerank
        print(f"{target} re-ranked (k1 {r.k1}, k2 {r.k2}, lambda {r.lambda_value}): mAP {100 * reranked.mAP:.2f}  "
              f"mINP {100 * reranked.mINP:.2f}  Rank-1 {100 * reranked.rank1:.2f}")
    ranked, extra_info = {}, {}
    if extra is not None:
        rankings, extra_info = extra(target, q_feats, g_feats, query, gallery)
        for name, distances in rankings.items():
            m = evaluate_distances(distances, n, gallery.height, *ids, max_rank=config.max_rank, device=q_feats.device)
            ranked[name] = Ranked(m, target_draws(m, query, target, config))
            print(f"{target} {extra.name} {name}: {shown(m, ranked[name].draws)}")
    samples = mask_samples(rows, out, config.mask_images)
    synthetic = bool(frame["synthetic"].any())
    return TargetResult(metrics, reranked, synthetic, draws, gallery.height, part_iou(encoder, rows, out), samples,
                        ranked, extra_info)


def target_draws(metrics: ReIDMetrics, query: pl.DataFrame, target: str, config: Evaluation) -> BootstrapDraws | None:
    """The target's bootstrap draws over query identities (None when evaluation.bootstrap_draws is 0)."""
    if not config.bootstrap_draws:
        return None
    return bootstrap_draws(metrics.ap, metrics.first_hit, query["pid"].to_numpy(), config.bootstrap_draws,
                           seed=bootstrap_seed(target))


def shown(metrics: ReIDMetrics, draws: BootstrapDraws | None) -> str:
    """mAP, mINP and Rank-1 in percent, with the 95 % intervals when drawn, for the printed lines."""
    text = {k: f"{100 * getattr(metrics, k):.2f}" for k in ("mAP", "mINP", "rank1")}
    if draws is not None:
        for k, ci in draws.intervals(CI_LEVEL).items():
            text[k] += f" [{100 * ci.low:.2f}, {100 * ci.high:.2f}]"
    return f"mAP {text['mAP']}  mINP {text['mINP']}  Rank-1 {text['rank1']}"


def rerank_metrics(
    q_feats: torch.Tensor, g_feats: torch.Tensor, ids: tuple[np.ndarray, ...], config: Evaluation
) -> ReIDMetrics:
    """The metrics after k-reciprocal re-ranking, its distances fed to the evaluator chunk by chunk."""
    distances = KReciprocal(q_feats, g_feats, config.rerank)
    return evaluate_distances(distances, len(q_feats), len(g_feats), *ids, max_rank=config.max_rank,
                              device=q_feats.device)


def bootstrap_seed(target: str) -> list[int]:
    """The target's bootstrap seed: fixed, independent of the other targets, different from theirs."""
    return [BOOTSTRAP_SEED, zlib.crc32(target.encode())]


def split_test(frame: pl.DataFrame, target: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The target's query and gallery rows."""
    query, gallery = (frame.filter(pl.col("split") == split) for split in ("query", "gallery"))
    if query.height == 0 or gallery.height == 0:
        raise InputError(
            f"target {target} has {query.height} query and {gallery.height} gallery images; a target needs both "
            f"(check its manifest and data/manifests/summary.json)"
        )
    return query, gallery


def write_ranking_sheet(
    features: torch.Tensor, query: pl.DataFrame, gallery: pl.DataFrame, metrics: ReIDMetrics, n: int, path: Path,
    name: str,
) -> None:
    """Sheet of `n` queries (evenly spread over those with a match) and their top-10 gallery images,
    titled `name` and the target's mAP, each row with the query's pid and AP as the evaluator scored it."""
    chosen = choose_queries(metrics.first_hit, n)
    q_pids, q_cams = query["pid"].to_numpy()[chosen], query["camid"].to_numpy()[chosen]
    index, match = top_matches(features[: query.height][chosen], features[query.height:], q_pids,
                               gallery["pid"].to_numpy(), q_cams, gallery["camid"].to_numpy(), k=TOP_K)
    g_paths = gallery["path"].to_list()
    ranked = [[g_paths[i] if i >= 0 else None for i in row] for row in index.tolist()]
    title = f"{name}: mAP {100 * metrics.mAP:.2f}%, top-{TOP_K} gallery images of {len(chosen)} queries"
    ranking_sheet([query["path"][int(i)] for i in chosen], ranked, match, path, pids=q_pids.tolist(),
                  ap=metrics.ap[chosen].tolist(), title=title)


def part_iou(encoder: ReidEncoder, rows: pl.DataFrame, out: Extraction) -> dict[str, float] | None:
    """Mask IoU against the voted ground-truth boxes, where the data have them and the model predicts masks."""
    if out.part_masks is None or not rows["synthetic"].any():
        return None
    parts = encoder.config.parts
    boxes = truth_boxes(rows, parts)
    if boxes is None:
        return None
    return box_mask_iou(out.part_masks.numpy(), boxes, encoder.config.grid, parts)


def mask_samples(rows: pl.DataFrame, out: Extraction, n: int) -> MaskSamples | None:
    """`n` images evenly spread over the target's query + gallery rows, with their pids and predicted masks."""
    if out.part_masks is None or n == 0:
        return None
    index = np.unique(np.linspace(0, rows.height - 1, n).round().astype(np.int64))
    picked = rows[index.tolist()]
    return MaskSamples(picked["path"].to_list(), picked["pid"].to_list(), out.part_masks[index].numpy())
