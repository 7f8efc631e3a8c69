"""DVC stage `stage2`: stage-1 model + masks → models/muva.pt (image encoder + BNNeck).

Several GPUs: `torchrun --nproc_per_node N -m stages.stage2`.
"""

from stages.common import main

if __name__ == "__main__":
    main("stage2")
