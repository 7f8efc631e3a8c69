"""DVC stage `pretrain`: the demo's vision-language prior → models/pretrain/clip.pt (SPEC §8).

Trains only when `model.pretrained` names that checkpoint (the demo); with `openai` or any
other weights the stage marks its outputs skipped in a second.
"""

from stages.common import main

if __name__ == "__main__":
    main("pretrain")
