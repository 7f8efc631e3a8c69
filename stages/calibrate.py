"""DVC stage `calibrate`: grounding boxes + training manifest → data/masks/ (masks, boxes, report)."""

from reid.masks.calibration import CalibrationConfig
from reid.masks.grid import PatchGrid
from reid.masks.run import MaskConfig, run_calibrate
from reid.model.configs import BACKBONE_CONFIGS
from stages.common import load_params


def main() -> None:
    params = load_params()
    cal = dict(params["calibration"])
    cal["quantiles"] = tuple(cal["quantiles"])
    height, width = params["model"]["image_size"]
    patch = BACKBONE_CONFIGS[params["model"]["backbone"]]["vision_cfg"]["patch_size"]
    run_calibrate(
        boxes_path="data/grounding/boxes.parquet",
        train_path="data/protocol/train.parquet",
        out_dir="data/masks",
        plots_dir="plots/calibration",
        metrics_path="metrics/calibration.json",
        calibration=CalibrationConfig(**cal),
        masks=MaskConfig(**params["masks"]),
        grid=PatchGrid(height, width, patch, patch),
    )


if __name__ == "__main__":
    main()
