"""MUVA on open_clip: multi-grained image encoder with AM-MSA, prompts, checkpoints (paper §3.1-3.2)."""
