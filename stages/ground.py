"""DVC stage `ground`: params `grounding` + training manifest → part boxes (resumable store).

Single process: `python -m stages.ground`; several GPUs or nodes:
`torchrun --nproc_per_node 8 -m stages.ground` (the store must sit on a shared file system).
"""

from reid.config.checks import check_device
from reid.grounding.run import GroundingConfig, run_grounding
from stages.common import StageParams, building, run_stage
from stages.wiring import Stage


def body(params: StageParams, io: Stage) -> None:
    grounding = params.grounding
    if grounding.expert == "cogvlm":
        check_device("grounding.cogvlm.device", grounding.cogvlm.device)
    with building("grounding"):
        config = GroundingConfig(
            expert=grounding.expert,
            batch_size=grounding.batch_size,
            expert_params=getattr(grounding, grounding.expert).plain(),
            sheet_images=grounding.sheet_images,
            max_attempts=grounding.max_attempts,
            max_error_fraction=grounding.max_error_fraction,
        )
    out = io.outputs
    run_grounding(io.inputs["train"], out["store"], out["boxes"], out["sheet"], out["metrics"], config)


if __name__ == "__main__":
    run_stage("ground", body)
