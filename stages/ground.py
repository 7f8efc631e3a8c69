"""DVC stage `ground`: params `grounding` + training manifest → part boxes (resumable store).

Single process: `python -m stages.ground`; several GPUs or nodes:
`torchrun --nproc_per_node 8 -m stages.ground` (the store must sit on a shared file system).
"""

from reid.grounding.run import run_grounding
from stages.common import StageParams, run_stage
from stages.wiring import Stage


def body(params: StageParams, io: Stage) -> None:
    out = io.outputs
    run_grounding(io.inputs["train"], out["store"], out["boxes"], out["sheet"], out["metrics"],
                  params.grounding)


if __name__ == "__main__":
    run_stage("ground", body)
