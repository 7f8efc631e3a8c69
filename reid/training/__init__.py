"""MUVA training (paper §3.3, SPEC §5): stage-1 prompt learning and stage-2 AM-MSA training."""
