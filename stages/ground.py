"""DVC stage `ground`: params `grounding` + training manifest → part boxes (resumable store).

Single process: `python -m stages.ground`; several GPUs or nodes:
`torchrun --nproc_per_node 8 -m stages.ground` (the store must sit on a shared file system).
"""

from reid.grounding.run import GroundingConfig, run_grounding
from stages.common import load_params


def main() -> None:
    params = load_params()["grounding"]
    expert = params["expert"]
    config = GroundingConfig(
        expert=expert,
        batch_size=params["batch_size"],
        expert_params=params.get(expert) or {},
        sheet_images=params.get("sheet_images", 24),
    )
    run_grounding(
        "data/protocol/train.parquet",
        "data/grounding/store",
        "data/grounding/boxes.parquet",
        "plots/grounding/contact_sheet.png",
        "metrics/grounding.json",
        config,
    )


if __name__ == "__main__":
    main()
