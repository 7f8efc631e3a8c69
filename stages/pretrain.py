"""DVC stage `pretrain`: the demo's vision-language prior → models/pretrain/clip.pt (SPEC §8).

Trains only when `model.pretrained` names that checkpoint (the demo); with `openai` or any
other weights the stage marks its outputs skipped in a second.
"""

from reid.model.configs import MuvaConfig
from reid.pretrain.config import PretrainConfig
from reid.pretrain.run import run_pretrain_step
from reid.synth import CaptionedConfig
from stages.common import load_params


def main() -> None:
    params = load_params()
    section = dict(params["pretrain"])
    run_pretrain_step(
        pretrained=params["model"]["pretrained"],
        checkpoint="models/pretrain/clip.pt",
        data_dir="data/pretrain",
        data=CaptionedConfig(**section.pop("data")),
        # the CLIP the re-ID stages build (MuvaConfig resolves the backbone name, or takes a given clip config)
        clip_config=MuvaConfig(num_classes=1, backbone=params["model"]["backbone"], clip=params["model"].get("clip")).clip,
        config=PretrainConfig(**section),
        state_dir="checkpoints/pretrain",
        live_dir="dvclive/pretrain",
        metrics_path="metrics/pretrain.json",
    )


if __name__ == "__main__":
    main()
