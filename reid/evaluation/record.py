"""The metrics JSON of an evaluation, built from each target's results.

Metrics are percentages rounded to 2 decimals, as re-ID papers report them; mask IoU is a
fraction (4 decimals, like `metrics/calibration.json`). The file is keyed by target so
`dvc metrics diff` compares runs target by target:

    {"MA": {"mAP": 52.03, "rank1": 72.1, "rank5": …, "rank10": …, "mINP": 18.2,
            "mAP_ci95": {"low": 49.87, "high": 54.12}, "rank1_ci95": {"low": 69.8, "high": 74.3},
            "queries": 2228, "skipped_queries": 0, "gallery": 17661, "mask_iou": {"head": …, "mean": …},
            "rerank": {"applied": true, "mAP": 66.4, "rank1": …, "rank5": …, "rank10": …, "mINP": …},
            "synthetic": false},
     "average": {"mAP": …, …, "mAP_ci95": {…}, "rank1_ci95": {…}, "rerank": {…}, "targets": "MA,D",
                 "synthetic": false},
     "protocol": "MS->MA,D", "synthetic": false}

`queries` counts the queries that have a true match (the others are skipped, SPEC §2);
`mask_iou` appears where the data have true part boxes (the synthetic benchmark) and the
model predicts masks (AM-MSA). `rerank` holds the same five numbers after k-reciprocal
re-ranking (`evaluation.rerank`, `rerank.py`) and says whether it was applied
(`{"applied": false}` when it is off, the paper's setting): the plain numbers stay the
headline, as SPEC §7 asks; intervals, CMC curves and sheets are of the plain ranking.

Synthetic and real numbers are never mixed. Each target says whether its data are synthetic
(its manifest's `synthetic` column, from the dataset's SYNTHETIC.json marker at ingestion).
`average` is the unweighted mean over the real targets, or over all targets when every one is
synthetic (the demo); when a protocol mixes both, the synthetic targets get their own
`average_synthetic`. Every average names its `targets` and its kind (`synthetic`). The
top-level `synthetic` is true when anything the numbers rest on is synthetic: the training
data (protocol.json) or any target.
`*_ci95` are 95 % bootstrap intervals over query identities (SPEC §7, `bootstrap.py`),
absent when `bootstrap_draws` is 0. Each target is drawn with seed 0 mixed with its name,
so its interval does not depend on which other targets the protocol lists, and targets
are resampled independently; the average's interval comes from the averaged draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reid.evaluation.bootstrap import BootstrapDraws, average_draws
from reid.evaluation.metrics import ReIDMetrics
from reid.evaluation.pictures import MaskSamples

REPORTED = ("mAP", "rank1", "rank5", "rank10", "mINP")
CI_LEVEL = 0.95  # the `*_ci95` keys


@dataclass(frozen=True)
class Ranked:
    """One more ranking of a target (MUSE's k-reciprocal, fused): its metrics and bootstrap draws."""

    metrics: ReIDMetrics
    draws: BootstrapDraws | None


@dataclass(frozen=True)
class TargetResult:
    metrics: ReIDMetrics
    reranked: ReIDMetrics | None  # None when evaluation.rerank is off
    synthetic: bool  # the target's data are synthetic (never averaged with real targets)
    draws: BootstrapDraws | None  # None when evaluation.bootstrap_draws is 0
    num_gallery: int
    mask_iou: dict[str, float] | None
    mask_samples: MaskSamples | None  # images and their masks for Fig. 7
    extra: dict[str, Ranked] = field(default_factory=dict)  # more rankings (MUSE's), by name
    extra_info: dict = field(default_factory=dict)  # what the record says of them for this target


def metrics_record(results: dict[str, TargetResult], protocol: str, synthetic: bool, extra_key: str = "muse") -> dict:
    """The metrics JSON: per target (with its own synthetic flag), the averages that never mix
    synthetic with real targets, the protocol name and the overall synthetic flag; the targets' extra
    rankings under `extra_key`."""
    record: dict = {}
    for target, r in results.items():
        record[target] = _target_record(r)
        if r.extra:
            record[target][extra_key] = {**{name: _ranked_record(x) for name, x in r.extra.items()}, **r.extra_info}
    real = {t: r for t, r in results.items() if not r.synthetic}
    fake = {t: r for t, r in results.items() if r.synthetic}
    if real:
        record["average"] = _average(real, synthetic=False, extra_key=extra_key)
        if fake:
            record["average_synthetic"] = _average(fake, synthetic=True, extra_key=extra_key)
    elif fake:
        record["average"] = _average(fake, synthetic=True, extra_key=extra_key)
    record.update(protocol=protocol, synthetic=synthetic)
    return record


def _target_record(r: TargetResult) -> dict:
    record = {k: round(v, 2) for k, v in _percent(r.metrics).items()}
    if r.draws is not None:
        record.update(_ci_record(r.draws))
    record.update(queries=r.metrics.num_valid, skipped_queries=r.metrics.num_skipped, gallery=r.num_gallery)
    if r.mask_iou is not None:
        record["mask_iou"] = {k: round(v, 4) for k, v in r.mask_iou.items()}
    record["rerank"] = _rerank_record([r])
    record["synthetic"] = r.synthetic
    return record


def _ranked_record(ranked: Ranked) -> dict:
    record = {k: round(v, 2) for k, v in _percent(ranked.metrics).items()}
    if ranked.draws is not None:
        record.update(_ci_record(ranked.draws))
    return record


def _average(results: dict[str, TargetResult], synthetic: bool, extra_key: str) -> dict:
    """Unweighted mean of the targets' metrics (unrounded), their averaged bootstrap draws, mask IoU and extra
    rankings (those every target has)."""
    average = _mean([_percent(r.metrics) for r in results.values()], 2)
    draws = [r.draws for r in results.values() if r.draws is not None]
    if draws:
        average.update(_ci_record(average_draws(draws)))
    ious = [r.mask_iou for r in results.values() if r.mask_iou is not None]
    if ious:
        average["mask_iou"] = _mean(ious, 4)
    average.update(rerank=_rerank_record(list(results.values())))
    names = [n for n in next(iter(results.values())).extra if all(n in r.extra for r in results.values())]
    if names:
        average[extra_key] = {n: _mean_ranked([r.extra[n] for r in results.values()]) for n in names}
    average.update(targets=",".join(results), synthetic=synthetic)
    return average


def _mean_ranked(ranked: list[Ranked]) -> dict:
    mean = _mean([_percent(x.metrics) for x in ranked], 2)
    draws = [x.draws for x in ranked if x.draws is not None]
    if len(draws) == len(ranked):
        mean.update(_ci_record(average_draws(draws)))
    return mean


def _percent(metrics: ReIDMetrics) -> dict[str, float]:
    """The reported metrics in percent, unrounded."""
    return {k: 100 * metrics.summary()[k] for k in REPORTED}


def _rerank_record(results: list[TargetResult]) -> dict:
    """`rerank` of a target or an average: whether it was applied and, if so, the (mean) re-ranked metrics."""
    reranked = [r.reranked for r in results if r.reranked is not None]
    if not reranked:
        return {"applied": False}
    return {"applied": True, **_mean([_percent(m) for m in reranked], 2)}


def _ci_record(draws: BootstrapDraws) -> dict[str, dict[str, float]]:
    """`mAP_ci95` and `rank1_ci95` in percent, 2 decimals like the metrics they bound."""
    return {f"{k}_ci95": {"low": round(100 * ci.low, 2), "high": round(100 * ci.high, 2)}
            for k, ci in draws.intervals(CI_LEVEL).items()}


def _mean(dicts: list[dict[str, float]], decimals: int) -> dict[str, float]:
    """Key-wise mean of the keys every dict has, rounded."""
    keys = [k for k in dicts[0] if all(k in d for d in dicts)]
    return {k: round(float(np.mean([d[k] for d in dicts])), decimals) for k in keys}
