"""DVC stage `calibrate`: grounding boxes + training manifest → data/masks/ (masks, boxes, report)."""

from pathlib import Path

from reid.config.choices import backbone_geometry
from reid.masks.calibration import CalibrationConfig
from reid.masks.grid import PatchGrid
from reid.masks.run import MaskConfig, run_calibrate
from stages.common import StageParams, building, run_stage
from stages.wiring import Stage


def body(params: StageParams, io: Stage) -> None:
    calibration = params.calibration.plain()
    sheet_images = calibration.pop("sheet_images")  # the picture's, not the algorithm's
    calibration["quantiles"] = tuple(calibration["quantiles"])
    with building("calibration"):
        calibration = CalibrationConfig(**calibration)
    with building("masks"):
        masks = MaskConfig(**params.masks.plain())
    height, width = params.model.image_size
    patch, _ = backbone_geometry(params.model.backbone, params.model.clip)
    run_calibrate(
        boxes_path=io.inputs["boxes"],
        train_path=io.inputs["train"],
        out_dir=io.outputs["masks"],
        plots_dir=Path(io.outputs["plot"]).parent,
        metrics_path=io.outputs["metrics"],
        calibration=calibration,
        masks=masks,
        grid=PatchGrid(height, width, patch, patch),
        sheet_images=sheet_images,
    )


if __name__ == "__main__":
    run_stage("calibrate", body)
