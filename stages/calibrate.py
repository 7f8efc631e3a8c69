"""DVC stage `calibrate`: grounding boxes + training manifest → data/masks/ (masks, boxes, report)."""

from pathlib import Path

from reid.masks.run import run_calibrate
from stages.common import StageParams, run_stage
from stages.wiring import Stage


def body(params: StageParams, io: Stage) -> None:
    run_calibrate(
        boxes_path=io.inputs["boxes"],
        train_path=io.inputs["train"],
        out_dir=io.outputs["masks"],
        plots_dir=Path(io.outputs["plot"]).parent,
        metrics_path=io.outputs["metrics"],
        calibration=params.calibration,
        masks=params.masks,
        grid=params.model.grid,
    )


if __name__ == "__main__":
    run_stage("calibrate", body)
