"""DVC stage `pretrain`: the demo's vision-language prior → models/pretrain/clip.pt (SPEC §8).

Trains only when `model.pretrained` names that checkpoint (the demo); with `openai` or any
other weights the stage marks its outputs skipped in a second.
"""

from pathlib import Path

from reid.config.checks import check_device
from reid.model.configs import MuvaConfig
from reid.pretrain.config import PretrainConfig
from reid.pretrain.run import run_pretrain_step
from reid.synth.captioned import CaptionedConfig
from stages.common import StageParams, building, run_stage
from stages.wiring import PRETRAIN_STATE, Stage


def body(params: StageParams, io: Stage) -> None:
    pretrain, model = params.pretrain, params.model
    check_device("pretrain.device", pretrain.device)
    with building("pretrain.data"):
        data = CaptionedConfig(**pretrain.data.plain())
    with building("pretrain"):
        config = PretrainConfig(**pretrain.plain(data=True))
    run_pretrain_step(
        pretrained=model.pretrained,
        checkpoint=Path(io.outputs["model"]) / "clip.pt",
        data_dir=io.outputs["data"],
        data=data,
        # the CLIP the re-ID stages build (MuvaConfig resolves the backbone name, or takes a given clip config)
        clip_config=MuvaConfig(num_classes=1, backbone=model.backbone, clip=model.clip).clip,
        config=config,
        state_dir=PRETRAIN_STATE,
        live_dir=io.outputs["live"],
        metrics_path=io.outputs["metrics"],
    )


if __name__ == "__main__":
    run_stage("pretrain", body)
