"""DVC stage `mu`: MUSE's mu-distance of every target query's top-k candidates → data/muse/mu (resumable store).

Runs only when muse.enabled. Several GPUs: `torchrun --nproc_per_node N -m stages.mu`.
"""

from stages.common import main

if __name__ == "__main__":
    main("mu")
