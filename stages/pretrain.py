"""DVC stage `pretrain`: the demo's vision-language prior → models/pretrain/clip.pt (SPEC §8).

Trains only when `model.pretrained` names that checkpoint (the demo); with `openai` or any
other weights the stage marks its outputs skipped in a second.
"""

from pathlib import Path

from reid.pretrain.run import run_pretrain_step
from stages.common import StageParams, run_stage
from stages.wiring import PRETRAIN_STATE, Stage


def body(params: StageParams, io: Stage) -> None:
    run_pretrain_step(
        config=params.pretrain,
        model=params.model,
        checkpoint=Path(io.outputs["model"]) / "clip.pt",
        data_dir=io.outputs["data"],
        state_dir=PRETRAIN_STATE,
        live_dir=io.outputs["live"],
        metrics_path=io.outputs["metrics"],
    )


if __name__ == "__main__":
    run_stage("pretrain", body)
