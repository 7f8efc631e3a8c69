"""MUSE's three stages, each a switch: `pairs` → `sft` → `mu` (PEERS.md §3.2), then evaluate fuses μ.

With `muse.enabled: false` (the default) each writes `SKIPPED.json` markers into its outputs in
a second, so the default `dvc repro` does not pay for a VLM. MUSE is model-agnostic: the encoder
is whatever `method` trained (`models/${method}.pt`), for pair mining and for the candidates.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from reid.config.checks import check_device
from reid.data.manifest import read_manifest
from reid.engine.distributed import barrier, init_distributed, shutdown
from reid.errors import ArtifactError
from reid.evaluation.extract import extract_features
from reid.evaluation.run import load_model, load_protocol, split_test
from reid.muse.config import Muse
from reid.muse.mu import candidate_pairs, judge_into, missing_pairs, shard, top_candidates
from reid.muse.pairs import mine_pairs, pair_counts
from reid.muse.sft import load_judge, run_sft
from reid.muse.store import MuStore, mu_identity
from reid.utils.device import resolve_device
from reid.vlm.config import Vlm
from reid.vlm.load import SKIPPED, require_mllm
from reid.wiring import StageIO, StageParams

OFF = "muse.enabled is false: MUSE's stages run only when it is switched on"
BARRIER_TIMEOUT = timedelta(days=7)  # ranks finish their shares of the μ pass hours apart


def write_json(path: str | Path, record: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")


def skip(folders: list[Path], files: list[Path]) -> None:
    """Mark a switched-off stage's outputs: a marker in each folder, a skipped record in each file."""
    marker = json.dumps({"skipped": True, "reason": OFF}) + "\n"
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / SKIPPED).write_text(marker)
    for path in files:
        write_json(path, {"skipped": True, "reason": OFF})


def read_pairs(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise ArtifactError(path, "pairs")
    pairs = pl.read_parquet(path)
    if pairs.height == 0:
        raise ArtifactError(path, "pairs", "holds no pairs (muse.enabled was false when it ran?)")
    return pairs


def run_pairs(model_path: Path, train_path: Path, muse: Muse, batch_size: int, device: str, workers: int,
              out_path: Path) -> dict[str, Any]:
    """Features of the training split from the trained encoder → the hard pairs; the record."""
    check_device("evaluation.device", device)
    encoder = load_model(model_path, resolve_device(device))
    train = pl.read_parquet(train_path)
    began = time.perf_counter()
    features = extract_features(encoder, train["path"].to_list(), batch_size=batch_size, device=device,
                                workers=workers, desc="muse pairs: training features")
    pairs = mine_pairs(train, features, muse.pairs)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    pairs.write_parquet(out_path)
    return {"skipped": False, "anchors": train.height, "pairs": pair_counts(pairs),
            "seconds": round(time.perf_counter() - began, 1)}


def pairs(params: StageParams, io: StageIO) -> None:
    """Stage `pairs`."""
    muse, evaluation, out = params.muse, params.evaluation, io.outputs
    if not muse.enabled:
        write_json(out["metrics"], {"skipped": True, "reason": OFF})
        pl.DataFrame(schema={"query_path": pl.String}).write_parquet(_ready(out["pairs"]))
        return
    record = run_pairs(io.inputs["model"], io.inputs["train"], muse, evaluation.batch_size, evaluation.device,
                       evaluation.workers, out["pairs"])
    write_json(out["metrics"], record)


def _ready(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def sft(params: StageParams, io: StageIO) -> None:
    """Stage `sft`."""
    muse, vlm, out = params.muse, params.vlm, io.outputs
    if not muse.enabled:
        skip([out["adapter"], out["live"]], [out["metrics"]])
        return
    require_mllm("muse.enabled")
    check_device("vlm.device", vlm.device)
    record = run_sft(read_pairs(io.inputs["pairs"]), vlm, muse.sft, out["adapter"], out["state"], out["live"])
    write_json(out["metrics"], {"skipped": False, **{k.replace("/", "_"): v for k, v in record.items()}})


def run_mu(model_path: Path, adapter_dir: Path, manifests_dir: Path, protocol_json: Path, store_root: Path,
           muse: Muse, vlm: Vlm, batch_size: int, device: str, workers: int) -> dict[str, Any] | None:
    """Every target's top-`muse.topk` pairs judged into the store (this rank's share); the record on rank 0."""
    check_device("evaluation.device", device)
    check_device("vlm.device", vlm.device)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ArtifactError(adapter_dir, "sft", "holds no LoRA adapter")
    protocol = load_protocol(protocol_json)
    frames = {t: read_manifest(manifests_dir, t) for t in protocol["targets"]}
    ctx = init_distributed(vlm.device, timeout=BARRIER_TIMEOUT)
    try:
        bundle = load_judge(vlm, adapter_dir)
        store = MuStore(store_root, mu_identity(bundle.digest, muse.tau, muse.swap, vlm.image_size))
        if ctx.rank == 0:
            (store_root / SKIPPED).unlink(missing_ok=True)
            store.write_identity()
            store.read(set_aside_corrupt=True)
        barrier(ctx)
        encoder = load_model(model_path, resolve_device(device))
        record: dict[str, Any] = {"skipped": False, "judge": bundle.digest, "topk": muse.topk, "swap": muse.swap,
                                  "targets": {}}
        for target, frame in frames.items():
            query, gallery = split_test(frame, target)
            feats = extract_features(encoder, [*query["path"], *gallery["path"]], batch_size=batch_size, device=device,
                                     workers=workers, desc=f"{target} query+gallery")
            q_idx, g_idx = top_candidates(feats[: query.height], feats[query.height:], muse.topk)
            wanted = candidate_pairs(query, gallery, q_idx, g_idx)
            missing = missing_pairs(store, target, wanted)
            barrier(ctx)  # every rank has listed the same missing pairs before any rank writes
            began = time.perf_counter()
            judged = judge_into(store, target, shard(missing, ctx.rank, ctx.world), bundle, vlm.image_size, muse.tau,
                                muse.swap, muse.batch_size, workers, ctx.rank)
            seconds = time.perf_counter() - began
            record["targets"][target] = {"queries": query.height, "pairs": wanted.height, "judged": judged,
                                         "seconds": round(seconds, 1),
                                         "pairs_per_s": round(judged / seconds, 2) if judged else None}
        barrier(ctx)
        if ctx.rank != 0:
            return None
        store.compact()
        return record
    finally:
        shutdown(ctx)


def mu(params: StageParams, io: StageIO) -> None:
    """Stage `mu`."""
    muse, vlm, evaluation, out = params.muse, params.vlm, params.evaluation, io.outputs
    if not muse.enabled:
        skip([out["store"]], [out["metrics"]])
        return
    require_mllm("muse.enabled")
    record = run_mu(io.inputs["model"], io.inputs["adapter"], io.inputs["manifests"], io.inputs["protocol"],
                    out["store"], muse, vlm, evaluation.batch_size, evaluation.device, evaluation.workers)
    if record is not None:
        write_json(out["metrics"], record)
