"""DVC stage `stage1`: training manifest + masks → models/stage1/ (learned prompts, text memory).

Several GPUs: `torchrun --nproc_per_node N -m stages.stage1`.
"""

from stages.common import main

if __name__ == "__main__":
    main("stage1")
