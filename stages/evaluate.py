"""DVC stage `evaluate`: models/muva.pt + target manifests → metrics/evaluation.json, plots/evaluation/."""

from pathlib import Path

from reid.config.checks import check_device
from reid.errors import building
from reid.evaluation.rerank import RerankConfig
from reid.evaluation.run import EvalConfig, run_evaluate
from stages.common import StageParams, run_stage
from stages.wiring import Stage


def body(params: StageParams, io: Stage) -> None:
    check_device("evaluation.device", params.evaluation.device)
    with building("evaluation"):
        evaluation = params.evaluation
        config = EvalConfig(**evaluation.plain(rerank=True), rerank=RerankConfig(**evaluation.rerank.plain()))
    run_evaluate(
        checkpoint=io.inputs["model"],
        manifests_dir=io.inputs["manifests"],
        protocol_json=io.inputs["protocol"],
        metrics_path=io.outputs["metrics"],
        plots_dir=Path(io.outputs["cmc_plot"]).parent,
        config=config,
    )


if __name__ == "__main__":
    run_stage("evaluate", body)
