"""DVC stage `evaluate`: models/muva.pt + target manifests → metrics/evaluation.json, plots/evaluation/."""

from pathlib import Path

from reid.evaluation.run import run_evaluate
from stages.common import StageParams, run_stage
from stages.wiring import Stage


def body(params: StageParams, io: Stage) -> None:
    run_evaluate(
        checkpoint=io.inputs["model"],
        manifests_dir=io.inputs["manifests"],
        protocol_json=io.inputs["protocol"],
        metrics_path=io.outputs["metrics"],
        plots_dir=Path(io.outputs["cmc_plot"]).parent,
        config=params.evaluation,
    )


if __name__ == "__main__":
    run_stage("evaluate", body)
