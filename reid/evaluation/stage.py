"""The `evaluate` stage: the plain evaluation, MUSE's rankings beside it when `muse.enabled`, and
LVLM-ReID's VLM pass for its models.

Apart from `run.py` because it composes packages above evaluation (MUSE's fusion and μ store),
as the schema composes every package's sections.
"""

from __future__ import annotations

from functools import partial

from reid.config.checks import check_device
from reid.evaluation.run import run_evaluate
from reid.muse.evaluate import MuseRankings, muse_store
from reid.muse.sft import judge_digest
from reid.utils.hashing import folder_digest
from reid.vlm.load import check_vlm_folder
from reid.vlm.semantic import SemanticReader
from reid.wiring import StageIO, StageParams


def evaluate(params: StageParams, io: StageIO) -> None:
    """Stage `evaluate`."""
    out, muse, vlm = io.outputs, params.muse, params.vlm
    check_device("evaluation.device", params.evaluation.device)  # before any model is read
    extra = None
    if muse.enabled:
        digest = judge_digest(folder_digest(check_vlm_folder(vlm.model)), io.inputs["adapter"])
        extra = MuseRankings(muse, vlm, muse_store(io.inputs["mu"], muse, vlm, digest))
    run_evaluate(checkpoint=io.inputs["model"], manifests_dir=io.inputs["manifests"], protocol_json=io.inputs["protocol"],
                 metrics_path=out["metrics"], cmc_dir=out["cmc"], cmc_plot=out["cmc_plot"], sheets_dir=out["sheets"],
                 config=params.evaluation, extra=extra,
                 semantic=partial(SemanticReader.for_model, vlm=vlm, batch_size=params.evaluation.batch_size,
                                  workers=params.evaluation.workers))
