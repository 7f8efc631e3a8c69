"""DVC stage `ground`: params `grounding` + training manifest → part boxes (resumable store).

Single process: `python -m stages.ground`; several GPUs or nodes:
`torchrun --nproc_per_node 8 -m stages.ground` (the store must sit on a shared file system).
"""

from stages.common import main

if __name__ == "__main__":
    main("ground")
